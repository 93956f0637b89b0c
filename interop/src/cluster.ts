// TSRPC's own TypeScript clients (JSON mode) on two chatroom servers that
// share one chat through Redis (`chatroom-server --redis URL`), for
// tests/interop.rs:
//
//     node cluster.js ws://127.0.0.1:<port A> ws://127.0.0.1:<port B>
//
// Phase one: chats sent on either server reach every client of both, once
// each, each sender's in order. The script then prints "phase one ok" and
// waits for a line on its standard input (the test restarts Redis
// meanwhile); phase two checks the same over the same connections.
import * as readline from 'readline';
import { WsClient } from 'tsrpc';
import { serviceProto as chatroomProto } from '../generated/chatroom/serviceProto';
import { assert, logger, main, waitFor } from './common';

const servers = process.argv.slice(2);

main(async () => {
    assert.strictEqual(servers.length, 2, 'usage: cluster.js <ws url A> <ws url B>');
    // Two clients on each server; the first of each sends.
    const clients = [0, 0, 1, 1].map(i => new WsClient(chatroomProto, { server: servers[i], json: true, logger }));
    const inboxes: string[][] = clients.map(() => []);
    clients.forEach((client, i) => client.listenMsg('Chat', msg => { inboxes[i].push(msg.content); }));
    for (const client of clients) {
        const connected = await client.connect();
        assert.ok(connected.isSucc, connected.errMsg);
    }
    const senders = [clients[0], clients[2]];

    async function phase(tag: string) {
        const sent: string[] = [];
        for (let i = 0; i < 5; i++) {
            for (const [k, sender] of senders.entries()) {
                const content = `${tag} ${k} ${i}`;
                sent.push(content);
                const ret = await sender.callApi('Send', { content });
                assert.ok(ret.isSucc, JSON.stringify(ret.err));
            }
        }
        const mine = (inbox: string[]) => inbox.filter(c => c.startsWith(`${tag} `));
        await waitFor(`every client has the chats of phase ${tag}`, () =>
            inboxes.every(inbox => mine(inbox).length >= sent.length));
        // Wait a little for anything sent twice.
        await new Promise(rs => setTimeout(rs, 200));
        for (const inbox of inboxes) {
            const got = mine(inbox);
            assert.deepStrictEqual([...got].sort(), [...sent].sort(), 'each chat once');
            for (const k of [0, 1]) {
                const bySender = got.filter(c => c.startsWith(`${tag} ${k} `));
                assert.deepStrictEqual(bySender, sent.filter(c => c.startsWith(`${tag} ${k} `)), 'in order');
            }
        }
    }

    await phase('one');
    console.log('phase one ok');
    const lines = readline.createInterface({ input: process.stdin });
    await new Promise<void>(rs => lines.once('line', () => rs()));
    lines.close();
    await phase('two');
    for (const inbox of inboxes) {
        assert.strictEqual(new Set(inbox).size, inbox.length, 'nothing twice');
    }
    for (const client of clients) {
        await client.disconnect();
    }
    console.log('ok cluster');
});
