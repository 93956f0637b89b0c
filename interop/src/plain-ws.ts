// A plain WebSocket client, no TSRPC library: the `ws` package and JSON
// frames written by hand, against a Rust tsrpc server.
//
//     node plain-ws.js ws://127.0.0.1:<port>
import WebSocket from 'ws';
import { assert, main, waitFor } from './common';

const [url] = process.argv.slice(2);

/** A socket with its received frames kept in order. */
class Peer {
    readonly frames: (string | Buffer)[] = [];
    pongs = 0;
    closed: { code: number; reason: string } | undefined;

    constructor(readonly ws: WebSocket) {
        ws.on('message', (data: WebSocket.Data, isBinary?: boolean) => {
            // ws 7 passes strings for text frames and Buffers for binary.
            this.frames.push(typeof data === 'string' || isBinary === false ? data.toString() : (data as Buffer));
        });
        ws.on('pong', () => { this.pongs += 1; });
        ws.on('close', (code: number, reason: string) => { this.closed = { code, reason: String(reason) }; });
    }

    static async open(protocol?: string): Promise<Peer> {
        const ws = protocol ? new WebSocket(url, protocol) : new WebSocket(url);
        const peer = new Peer(ws);
        await new Promise<void>((rs, rj) => {
            ws.once('open', () => rs());
            ws.once('error', rj);
        });
        return peer;
    }

    send(frame: string | Buffer) {
        this.ws.send(frame);
    }

    /** The next `count` frames, parsed when they are text. */
    async next(count: number): Promise<unknown[]> {
        await waitFor(`${count} frame(s) arrive`, () => this.frames.length >= count);
        return this.frames.splice(0, count).map(f => (typeof f === 'string' ? JSON.parse(f) : f));
    }
}

main(async () => {
    // No subprotocol: the first data frame (text) chooses JSON.
    const peer = await Peer.open();
    peer.ws.ping();
    await waitFor('a WebSocket pong', () => peer.pongs === 1);

    peer.send(JSON.stringify(['Send', { content: 'by hand' }, 1]));
    const frames = (await peer.next(2)) as any[];
    const ret = frames.find(f => f[0] === 'Send');
    const chat = frames.find(f => f[0] === 'Chat');
    assert.ok(ret && chat, JSON.stringify(frames));
    assert.strictEqual(ret.length, 3);
    assert.strictEqual(ret[2], 1, 'the return carries the sn');
    assert.strictEqual(ret[1].isSucc, true);
    assert.match(ret[1].res.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'a Timestamp is an ISO string');
    assert.strictEqual(chat.length, 2, 'a message has no sn');
    assert.deepStrictEqual(chat[1], { content: 'by hand', time: ret[1].res.time });

    // TSRPC's heartbeat: one binary 0x00 byte, answered with the same.
    peer.send(Buffer.from([0]));
    const [beat] = await peer.next(1);
    assert.ok(Buffer.isBuffer(beat) && beat.length === 1 && beat[0] === 0, `heartbeat answer: ${String(beat)}`);

    peer.send(JSON.stringify(['Send', { content: '' }, 2]));
    assert.deepStrictEqual(await peer.next(1), [
        ['Send', { isSucc: false, err: { message: 'Content is empty', type: 'ApiError' } }, 2],
    ]);

    peer.send(JSON.stringify(['user/Login', { user: 'ann', password: 'nope' }, 3]));
    assert.deepStrictEqual(await peer.next(1), [
        ['user/Login', { isSucc: false, err: { message: 'Wrong password', type: 'ApiError', code: 'BAD_PASSWORD', attempts: 3 } }, 3],
    ]);

    // A request that does not decode: INPUT_DATA_ERR, naming the field.
    peer.send(JSON.stringify(['user/Login', { user: 'ann' }, 4]));
    const [missing] = (await peer.next(1)) as any[];
    assert.strictEqual(missing[2], 4);
    assert.strictEqual(missing[1].isSucc, false);
    assert.strictEqual(missing[1].err.type, 'ServerError');
    assert.strictEqual(missing[1].err.code, 'INPUT_DATA_ERR');
    assert.strictEqual(missing[1].err.message, 'Missing required property `password`.');

    // An absent optional property is read as None; a null one too. A None
    // is sent as TSRPC sends an absent property: left out.
    peer.send(JSON.stringify(['Ping', { n: 5, at: '2026-01-01T00:00:00Z' }]));
    const answers = (await peer.next(3)) as any[];
    assert.deepStrictEqual(answers, [
        ['Pong', { n: 5, at: '2026-01-01T00:00:00.000Z' }],
        ['rich/Event', { n: 5, color: 'Blue' }],
        ['rich/Note', { text: 'ping 5' }],
    ]);

    // A message that does not decode is dropped; the connection stays.
    peer.send(JSON.stringify(['Ping', { n: 'five' }]));
    peer.send(JSON.stringify(['user/Login', { user: 'ann', password: 'secret' }, 5]));
    assert.deepStrictEqual(await peer.next(1), [
        ['user/Login', { isSucc: true, res: { token: 'token-of-ann' } }, 5],
    ]);

    peer.ws.close(1000, 'bye');
    await waitFor('the close handshake', () => peer.closed !== undefined);
    assert.strictEqual(peer.closed!.code, 1000);

    // The `text` subprotocol (TSRPC's JSON mode) is echoed back.
    const text = await Peer.open('text');
    assert.strictEqual(text.ws.protocol, 'text');
    text.send(JSON.stringify(['Kick', { reason: 'Bye, plain socket' }, 1]));
    await waitFor('the server closes', () => text.closed !== undefined);
    assert.deepStrictEqual(text.closed, { code: 1000, reason: 'Bye, plain socket' });

    console.log('ok plain-ws');
});
