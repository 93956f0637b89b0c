// TSRPC's own clients (`tsrpc` 3.4.x), built with TSRPC's chatroom
// serviceProto (read at run time), against the chatroom backend moved to
// Rust with `tsrpc import` (tests/migration.rs).
//
//     node chatroom-client.js <serviceProto.ts> ws://127.0.0.1:<port> <binary|json>
//
// The serviceProto is the object of TSRPC's generated serviceProto.ts,
// taken out of it as the TypeScript compiler would leave it.
// Prints one JSON line per result; exits non-zero on the first failure.
'use strict';
const fs = require('fs');
const { HttpClient, WsClient } = require('tsrpc');

const [protoPath, url, mode] = process.argv.slice(2);
const text = fs.readFileSync(protoPath, 'utf8');
const start = text.indexOf('{', text.indexOf('export const serviceProto'));
const proto = JSON.parse(text.slice(start).trim().replace(/;$/, ''));
const json = mode === 'json';
const logger = { debug() {}, log() {}, warn() {}, error: console.error };

async function main() {
    const clients = [0, 1].map(() => new WsClient(proto, { server: url, json, logger }));
    const inboxes = clients.map(() => []);
    clients.forEach((client, i) => client.listenMsg('Chat', msg => { inboxes[i].push(msg); }));
    for (const client of clients) {
        const connected = await client.connect();
        if (!connected.isSucc) throw new Error(connected.errMsg);
    }
    const sent = await clients[0].callApi('Send', { content: `hello in ${mode} mode` });
    if (!sent.isSucc) throw new Error(sent.err.message);
    const refused = await clients[1].callApi('Send', { content: '' });
    for (let i = 0; i < 100 && inboxes.some(inbox => inbox.length === 0); i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    const http = new HttpClient(proto, { server: url.replace(/^ws:/, 'http:'), json, logger });
    const overHttp = await http.callApi('Send', { content: 'over HTTP' });
    for (let i = 0; i < 100 && inboxes.some(inbox => inbox.length < 2); i++) {
        await new Promise(resolve => setTimeout(resolve, 50));
    }
    console.log(JSON.stringify({
        sentIsDate: sent.res.time instanceof Date,
        refused: refused.isSucc ? null : refused.err.message,
        httpIsDate: overHttp.isSucc && overHttp.res.time instanceof Date,
        inboxes: inboxes.map(inbox => inbox.map(msg => ({ content: msg.content, isDate: msg.time instanceof Date }))),
    }));
    for (const client of clients) {
        await client.disconnect();
    }
}

main().then(() => process.exit(0), err => { console.error(err); process.exit(1); });
