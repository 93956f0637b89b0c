// TSRPC 3.4 servers of the tsrpc benchmark, run by `cargo run -p tsrpc-bench`:
//   node server.js ws     a WsServer (JSON and binary connections)
//   node server.js http   an HttpServer (JSON and binary bodies)
// Listens on 127.0.0.1 (a free port), prints `ready <port>`, and exits when
// its standard input closes.
"use strict";

const http = require("http");
const { WsServer, HttpServer } = require("tsrpc");
const { TransportDataUtil } = require("tsrpc-base-client");
const { serviceProto, quietLogger } = require("./proto");

// TSRPC's servers listen on every interface; the benchmark uses loopback only.
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (port, callback) {
    return listen.call(this, { port, host: "127.0.0.1" }, callback);
};

// Counts message encodings, so a broadcast can report how many it cost.
let encodes = 0;
const encodeServerMsg = TransportDataUtil.encodeServerMsg;
TransportDataUtil.encodeServerMsg = function (...args) {
    encodes++;
    return encodeServerMsg.apply(this, args);
};

const kind = process.argv[2];
const options = {
    port: 0,
    json: true,
    logger: quietLogger,
    logLevel: "error",
    logReqBody: false,
    logResBody: false,
    logMsg: false,
    logConnect: false,
};
let server;
if (kind === "ws") {
    server = new WsServer(serviceProto, options);
} else if (kind === "http") {
    server = new HttpServer(serviceProto, options);
} else {
    console.error("usage: node server.js ws|http");
    process.exit(2);
}

server.implementApi("Echo", async (call) => {
    call.succ({ a: call.req.a, b: call.req.b, c: call.req.c });
});
server.implementApi("EchoBig", async (call) => {
    call.succ({ a: call.req.a, b: call.req.b, c: call.req.c, d: call.req.d });
});
server.implementApi("Broadcast", async (call) => {
    if (kind !== "ws") {
        call.error("Broadcast needs the WebSocket server");
        return;
    }
    const before = encodes;
    const receivers = server.connections.length;
    await server.broadcastMsg("Tick", { seq: call.req.seq, text: call.req.text });
    call.succ({ encodes: encodes - before, receivers });
});

server.start().then(() => {
    const address = kind === "ws" ? server._httpServer.address() : server.httpServer.address();
    process.stdout.write(`ready ${address.port}\n`);
});

process.stdin.on("end", () => process.exit(0));
process.stdin.on("error", () => process.exit(0));
process.stdin.resume();
