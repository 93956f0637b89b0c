#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/seeds/<target>/: valid
frames and payloads of each kind in both encodings (so the fuzzers start
from the real formats), and payloads nested far past the decoders' limit
(the input that once overflowed the stack). Run it again after a format
change: python3 fuzz/seeds.py"""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def leb128(n):
    """tsrpc's frame header fields: unsigned LEB128."""
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def uvar(n):
    """bincode 2's varint integers (standard configuration)."""
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfb" + struct.pack("<H", n)
    if n < 1 << 32:
        return b"\xfc" + struct.pack("<I", n)
    return b"\xfd" + struct.pack("<Q", n)


def ivar(n):
    return uvar((n << 1) ^ (n >> 63) if n < 0 else n << 1)


def string(s):
    data = s.encode()
    return uvar(len(data)) + data


def zoo_binary(depth=3):
    tree = uvar(1) * (depth - 1) + uvar(0)
    return b"".join([
        ivar(-42),                         # int
        uvar(7),                           # uint
        struct.pack("<d", 1.5),            # float
        b"\x01",                           # flag
        string("héllo"),                   # text
        b"\x01" + "é".encode(),            # ch: Some('é')
        uvar(2) + uvar(1) + uvar(300),     # list
        uvar(1) + string("k") + ivar(-1),  # map
        bytes([9]) + string("t"),          # tuple
        b"\x01" + ivar(1764115200000),     # time: Some(ms)
        b"\x01" + uvar(3) + b"\x00\x01\x02",  # bytes: Some(Binary)
        uvar(2) + uvar(3) + uvar(4),       # shape: Rect { w: 3, h: 4 }
        tree,                              # tree
        b"\x01\x01\x00",                   # wrapped: Some(Wrapper(Some(Wrapper(None))))
    ])


def node_json(depth):
    return '{"children":[' * (depth - 1) + '{"children":[]}' + "]}" * (depth - 1)


def zoo_json(depth=3):
    return json.dumps({
        "int": -42, "uint": 7, "float": 1.5, "flag": True, "text": "héllo",
        "ch": "é", "list": [1, 300], "map": {"k": -1}, "tuple": [9, "t"],
        "time": "2025-11-26T00:00:00.000Z", "bytes": "AAEC",
        "shape": {"Rect": {"w": 3, "h": 4}},
        "tree": json.loads(node_json(depth)), "wrapped": None,
    }, ensure_ascii=False)


def deep_zoo_json(depth):
    head = zoo_json(1).split('"tree": ')[0]
    return head + '"tree": ' + node_json(depth) + ', "wrapped": null}'


def binary_frame(kind, header, payload=b""):
    return bytes([kind]) + b"".join(leb128(h) for h in header) + payload


def write(target, name, data):
    folder = os.path.join(HERE, "seeds", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


deep = uvar(1) * 10_000 + uvar(0)
binary_zoo = zoo_binary()
deep_binary_zoo = binary_zoo.split(uvar(1) * 2 + uvar(0))[0] + deep + b"\x01\x01\x00"
json_zoo = zoo_json()
deep_json = deep_zoo_json(1_000)

# What a server reads: requests, messages, hello, heartbeat, both modes.
write("client_frame", "json-request", f'["Zoo",{json_zoo},7]')
write("client_frame", "json-message", f'["room/Zoo",{json_zoo}]')
write("client_frame", "json-deep", f'["Zoo",{deep_json},1]')
write("client_frame", "binary-request", binary_frame(1, [3, 7], binary_zoo))
write("client_frame", "binary-message", binary_frame(4, [3], binary_zoo))
write("client_frame", "binary-deep", binary_frame(1, [3, 1], deep_binary_zoo))
write("client_frame", "hello", bytes([5]) + bytes(range(8)))
write("client_frame", "heartbeat", b"\x00")

# What a client reads: returns (success and error), messages.
error = string("Content is empty") + uvar(3) + uvar(1) + string("NEED_LOGIN") + string('{"k":[1,{"a":null}]}')
write("server_frame", "json-success", f'["Zoo",{{"isSucc":true,"res":{json_zoo}}},7]')
write("server_frame", "json-error", '["Zoo",{"isSucc":false,"err":{"message":"no","type":"ApiError","code":"NEED_LOGIN","extra":[1,{"a":2}]}},7]')
write("server_frame", "json-message", f'["Zoo",{json_zoo}]')
write("server_frame", "json-deep", f'["Zoo",{{"isSucc":true,"res":{deep_json}}},1]')
write("server_frame", "binary-success", binary_frame(2, [7], binary_zoo))
write("server_frame", "binary-error", binary_frame(3, [7], error))
write("server_frame", "binary-message", binary_frame(4, [3], binary_zoo))
write("server_frame", "binary-deep", binary_frame(2, [1], deep_binary_zoo))

# Payloads alone.
write("payload", "binary", binary_zoo)
write("payload", "json", json_zoo)
write("payload", "binary-deep", deep_binary_zoo)
write("payload", "json-deep", deep_json)
write("payload", "binary-wrapper-deep", binary_zoo[: -3] + b"\x01" * 5_000 + b"\x00")

# (payload/regression-* are kept as fuzzing found them: a binary payload
# of many small values once refused by the allocation limit, and a JSON
# float that serde_json's default parser read one unit off.)

# HTTP bodies: a JSON request, a binary request frame, a JSON return.
write("http_body", "json-request", json_zoo)
write("http_body", "json-return", f'{{"isSucc":true,"res":{json_zoo}}}')
write("http_body", "json-error", '{"isSucc":false,"err":{"message":"no","type":"ServerError","code":"INPUT_DATA_ERR","path":"a.b"}}')
write("http_body", "binary-request", binary_frame(1, [3, 1], binary_zoo))
write("http_body", "json-deep", deep_json)

# TSRPC's binary mode (TSBuffer): `ServerInputData` and `ServerOutputData`
# around a payload (`{content: "hi"}`, property 0: 01 28 02 68 69).
TS_PAYLOAD = bytes([0x01, 0x28, 0x02, 0x68, 0x69])


def ts_buffer(block, payload):
    return bytes([block]) + leb128(len(payload)) + payload


TS_MESSAGE = bytes([2]) + ts_buffer(0x28, TS_PAYLOAD) + bytes([0x31, 1])
write("client_frame", "tsbuffer-request", bytes([3, 0x29, 0]) + ts_buffer(0x2C, TS_PAYLOAD) + bytes([0x31, 1]))
write("client_frame", "tsbuffer-message", bytes([2, 0x29, 0]) + ts_buffer(0x2C, TS_PAYLOAD))
write("server_frame", "tsbuffer-success", bytes([3]) + ts_buffer(0x28, TS_PAYLOAD) + bytes([0x31, 1, 0x35, 1]))
write("server_frame", "tsbuffer-message", TS_MESSAGE)
# {error: {message "nope", type ApiError, code 42, extra {"a":[1]}}, serviceId 1, sn 7}
write("server_frame", "tsbuffer-error", bytes.fromhex(
    "032f0428046e6f70652d03330105540005657874726109" + b'{"a":[1]}'.hex() + "31013507"))
write("payload", "tsbuffer", TS_PAYLOAD)
write("http_body", "tsbuffer-request", bytes([2, 0x29, 0]) + ts_buffer(0x2C, TS_PAYLOAD))

# What one server node hears from another through a cluster adapter
# (`ClusterMsg::to_bytes`): origin, protocol fingerprint, target (0: all
# but rooms, 1: rooms but rooms, 2: one connection of a node), message
# name, the JSON frame, the binary frame and the TSBuffer frame.
def cluster_msg(target):
    json_frame = '["Chat",{"content":"hi"}]'.encode()
    binary_frame_bytes = bytes([4, 3]) + string("hi")
    return b"".join([
        uvar(0x1234),
        string("0123456789abcdef"),
        target,
        string("Chat"),
        uvar(len(json_frame)) + json_frame,
        uvar(len(binary_frame_bytes)) + binary_frame_bytes,
        uvar(len(TS_MESSAGE)) + TS_MESSAGE,
    ])


write("cluster_msg", "all", cluster_msg(uvar(0) + uvar(1) + string("muted")))
write("cluster_msg", "rooms", cluster_msg(uvar(1) + uvar(2) + string("a") + string("b") + uvar(0)))
write("cluster_msg", "connection", cluster_msg(uvar(2) + uvar(0x1234) + uvar(7)))
