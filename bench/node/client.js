// TSRPC 3.4 load client of the tsrpc benchmark, for TSRPC's binary mode
// (the JSON mode is driven by the benchmark's Rust load generator):
//   node client.js ws|http <url> <conns> <inflight> <warmupMs> <measureMs> small|big
// Prints `start` and `end` around the measured window, then one JSON line:
// {"calls", "seconds", "p50Us", "p99Us", "errors", "firstError"}.
"use strict";

const { WsClient, HttpClient } = require("tsrpc");
const { serviceProto, quietLogger } = require("./proto");

const [kind, server, conns, inflight, warmupMs, measureMs, size] = process.argv.slice(2);
const nConns = Number(conns);
const nInflight = Number(inflight);
const big = size === "big";
const req = { a: 123, b: "Hello, World!", c: true };
if (big) {
    req.d = new Uint8Array(100000).map((_, i) => i % 251);
}
const api = big ? "EchoBig" : "Echo";

// 0: warming up, 1: measuring, 2: stopping.
let phase = 0;
let calls = 0;
let errors = 0;
let firstError = null;
const latencies = [];

function same(res) {
    if (res.a !== req.a || res.b !== req.b || res.c !== req.c) {
        return false;
    }
    if (!big) {
        return true;
    }
    return res.d instanceof Uint8Array && Buffer.compare(Buffer.from(res.d), Buffer.from(req.d)) === 0;
}

async function loop(client) {
    while (phase < 2) {
        const start = process.hrtime.bigint();
        const ret = await client.callApi(api, req);
        const us = Number(process.hrtime.bigint() - start) / 1000;
        if (!ret.isSucc || !same(ret.res)) {
            errors++;
            firstError = firstError || (ret.isSucc ? "the response differs from the request" : ret.err.message);
            return;
        }
        if (phase === 1) {
            calls++;
            latencies.push(us);
        }
    }
}

async function main() {
    const clients = [];
    for (let i = 0; i < nConns; i++) {
        const options = { server, json: false, logger: quietLogger, timeout: 30000 };
        const client = kind === "ws" ? new WsClient(serviceProto, options) : new HttpClient(serviceProto, options);
        if (kind === "ws") {
            const op = await client.connect();
            if (!op.isSucc) {
                throw new Error(op.errMsg);
            }
        }
        clients.push(client);
    }
    const loops = [];
    for (const client of clients) {
        for (let j = 0; j < nInflight; j++) {
            loops.push(loop(client));
        }
    }
    await new Promise((r) => setTimeout(r, Number(warmupMs)));
    process.stdout.write("start\n");
    const t0 = process.hrtime.bigint();
    phase = 1;
    await new Promise((r) => setTimeout(r, Number(measureMs)));
    phase = 2;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    process.stdout.write("end\n");
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, 10000))]);
    latencies.sort((x, y) => x - y);
    const pick = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : 0);
    const result = { calls, seconds, p50Us: pick(0.5), p99Us: pick(0.99), errors, firstError };
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(0);
}

main().catch((e) => {
    process.stdout.write(JSON.stringify({ calls: 0, seconds: 0, p50Us: 0, p99Us: 0, errors: 1, firstError: String(e) }) + "\n");
    process.exit(0);
});
setTimeout(() => {
    process.stdout.write(JSON.stringify({ calls: 0, seconds: 0, p50Us: 0, p99Us: 0, errors: 1, firstError: "timed out" }) + "\n");
    process.exit(0);
}, 120000).unref();
