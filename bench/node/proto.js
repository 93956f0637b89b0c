// The benchmark's protocol for TSRPC, written by hand: the same services
// and types as bench/src/proto.rs (ids in name order, as tsrpc orders them).
"use strict";

const int = { type: "Number", scalarType: "int" };
const uint = { type: "Number", scalarType: "uint" };
const string = { type: "String" };
const boolean = { type: "Boolean" };
const bytes = { type: "Buffer", arrayType: "Uint8Array" };

function iface(fields) {
    return {
        type: "Interface",
        properties: fields.map(([name, type], id) => ({ id, name, type })),
    };
}

const echo = iface([["a", int], ["b", string], ["c", boolean]]);
const echoBig = iface([["a", int], ["b", string], ["c", boolean], ["d", bytes]]);

exports.serviceProto = {
    version: 1,
    services: [
        { id: 0, name: "Broadcast", type: "api" },
        { id: 1, name: "Echo", type: "api" },
        { id: 2, name: "EchoBig", type: "api" },
        { id: 3, name: "Tick", type: "msg" },
    ],
    types: {
        "PtlBroadcast/ReqBroadcast": iface([["seq", uint], ["text", string]]),
        "PtlBroadcast/ResBroadcast": iface([["encodes", uint], ["receivers", uint]]),
        "PtlEcho/ReqEcho": echo,
        "PtlEcho/ResEcho": echo,
        "PtlEchoBig/ReqEchoBig": echoBig,
        "PtlEchoBig/ResEchoBig": echoBig,
        "MsgTick/MsgTick": iface([["seq", uint], ["text", string]]),
    },
};

// Servers and clients of the benchmark print nothing but errors.
exports.quietLogger = {
    debug() {},
    log() {},
    warn() {},
    error: (...args) => console.error(...args),
};
