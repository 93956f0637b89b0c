// TSRPC's own clients (`tsrpc` 3.4.x) in their default binary mode, built
// with a TSRPC project's serviceProto.json (read at run time), against a
// Rust server started with the same file (tests/stable_ids.rs).
//
//     node stable-ids-client.js <serviceProto.json> ws://127.0.0.1:<port>
//
// Prints one JSON line per result; exits non-zero on the first failure.
'use strict';
const fs = require('fs');
const { HttpClient, WsClient } = require('tsrpc');

const [protoPath, url] = process.argv.slice(2);
const proto = JSON.parse(fs.readFileSync(protoPath, 'utf8'));
const logger = { debug() {}, log() {}, warn() {}, error: console.error };

async function main() {
    const ws = new WsClient(proto, { server: url, json: false, logger });
    const notes = [];
    ws.listenMsg('Note', msg => { notes.push(msg); });
    const connected = await ws.connect();
    if (!connected.isSucc) throw new Error(connected.errMsg);

    const delivery = await ws.callApi('shop/Order', {
        item: 'tea', count: 2, kind: { Delivery: { address: 'Main St 1', express: true } }, coupon: 'FREE',
    });
    console.log(JSON.stringify({ ws: delivery }));
    const pickup = await ws.callApi('shop/Order', { item: 'cake', count: 1, kind: 'Pickup' });
    console.log(JSON.stringify({ ws: pickup }));
    const refused = await ws.callApi('shop/Order', { item: '', count: 1, kind: 'Pickup' });
    console.log(JSON.stringify({ ws: refused }));

    const sent = await ws.sendMsg('Note', { text: 'hello', from: 'node' });
    if (!sent.isSucc) throw new Error(sent.errMsg);
    for (let i = 0; i < 100 && notes.length === 0; i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    console.log(JSON.stringify({ notes }));
    await ws.disconnect();

    const http = new HttpClient(proto, { server: url.replace(/^ws:/, 'http:'), json: false, logger });
    const overHttp = await http.callApi('shop/Order', { item: 'tea', count: 3, kind: 'Pickup' });
    console.log(JSON.stringify({ http: overHttp }));
}

main().then(() => process.exit(0), err => { console.error(err); process.exit(1); });
