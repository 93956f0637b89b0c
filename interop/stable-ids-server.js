// TSRPC's own servers (`tsrpc` 3.4.x) in their default binary mode, built
// with a TSRPC project's serviceProto.json (read at run time), for the Rust
// clients of tests/stable_ids.rs, which use the same file's ids.
//
//     node stable-ids-server.js <serviceProto.json>
//
// Prints the ports as one JSON line, then serves until stdin closes.
'use strict';
const fs = require('fs');
const { HttpServer, WsServer } = require('tsrpc');

const proto = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const logger = { debug() {}, log() {}, warn() {}, error: console.error };

function implement(server) {
    // What tests/stable_ids.rs's Rust handler answers.
    server.implementApi('shop/Order', async call => {
        const { item, count, kind } = call.req;
        if (item === '') {
            await call.error('item is empty');
            return;
        }
        const delivery = typeof kind === 'object' ? kind.Delivery : undefined;
        await call.succ({
            id: count * 10,
            status: delivery ? { Paid: count * 100 + (delivery.express ? 1 : 0) } : 'Open',
            lines: [{ sku: delivery ? `${item}@${delivery.address}` : item, qty: count }],
        });
    });
    server.listenMsg('Note', async call => {
        if (call.conn.sendMsg) {
            await call.conn.sendMsg('Note', { text: call.msg.text.toUpperCase(), from: `node, to ${call.msg.from}` });
        }
    });
}

async function start() {
    const options = { port: 0, json: false, logger, returnInnerError: false };
    const ws = new WsServer(proto, options);
    const http = new HttpServer(proto, options);
    for (const server of [ws, http]) {
        implement(server);
        await server.start();
    }
    const port = server => server.address().port;
    console.log(JSON.stringify({ ws: port(ws._httpServer), http: port(http.httpServer) }));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
}

start().catch(err => { console.error(err); process.exit(1); });
