// TSRPC's own TypeScript clients (`tsrpc` 3.4.x) against a Rust tsrpc
// server, with protocols exported from the Rust definitions.
//
//     node ts-client.js <chatroom|rich|heartbeat> ws://127.0.0.1:<port> [http://127.0.0.1:<port>/api]
//
// The HTTP URL defaults to the WebSocket URL's host (one port, no prefix).
// The clients speak JSON mode (`json: true`), or TSRPC's default binary
// mode (TSBuffer) with TSRPC_JSON=false in the environment.
import { HttpClient, TsrpcError, TsrpcErrorType, WsClient } from 'tsrpc';
import { MsgChat } from '../generated/chatroom/MsgChat';
import { serviceProto as chatroomProto } from '../generated/chatroom/serviceProto';
import { MsgPong } from '../generated/rich/MsgPong';
import { MsgEvent } from '../generated/rich/rich/MsgEvent';
import { MsgNote } from '../generated/rich/rich/MsgNote';
import { serviceProto as richProto } from '../generated/rich/serviceProto';
import { Everything } from '../generated/rich/types';
import { assert, logger, main, plain, waitFor } from './common';
import { everything, shapes } from './values';

const [scenario, url, httpArg] = process.argv.slice(2);
const json = process.env.TSRPC_JSON !== 'false';
const httpUrl = httpArg ?? url.replace(/^ws:/, 'http:');

main(async () => {
    switch (scenario) {
        case 'chatroom':
            await chatroom();
            break;
        case 'rich':
            await rich();
            break;
        case 'heartbeat':
            await heartbeat();
            break;
        default:
            throw new Error(`unknown scenario ${scenario}`);
    }
    console.log(`ok ${scenario}`);
});

function expectError(ret: { isSucc: boolean; err?: TsrpcError }, type: TsrpcErrorType, code?: string): TsrpcError {
    assert.ok(!ret.isSucc, `expected a ${type}, got ${JSON.stringify(ret)}`);
    const err = ret.err!;
    assert.ok(err instanceof TsrpcError, 'errors are TsrpcErrors');
    assert.strictEqual(err.type, type, err.message);
    assert.strictEqual(err.code, code, err.message);
    return err;
}

/** The chatroom of the examples: several clients, broadcast, HTTP. */
async function chatroom() {
    const clients = [0, 1, 2].map(() => new WsClient(chatroomProto, { server: url, json, logger }));
    const inboxes: MsgChat[][] = clients.map(() => []);
    clients.forEach((client, i) => client.listenMsg('Chat', msg => { inboxes[i].push(msg); }));
    for (const client of clients) {
        const connected = await client.connect();
        assert.ok(connected.isSucc, connected.errMsg);
    }

    const ret = await clients[0].callApi('Send', { content: 'Hello from TypeScript' });
    assert.ok(ret.isSucc, JSON.stringify(ret.err));
    assert.ok(ret.res.time instanceof Date, 'a Timestamp is a Date');
    await waitFor('every client has the chat', () => inboxes.every(inbox => inbox.length === 1));
    for (const [msg] of inboxes) {
        assert.strictEqual(msg.content, 'Hello from TypeScript');
        assert.ok(msg.time instanceof Date);
        assert.strictEqual(msg.time.getTime(), ret.res.time.getTime());
    }
    const empty = await clients[1].callApi('Send', { content: '' });
    assert.strictEqual(expectError(empty, TsrpcErrorType.ApiError).message, 'Content is empty');

    // HTTP on the same port, broadcasting to the WebSocket clients.
    const http = new HttpClient(chatroomProto, { server: httpUrl, json, logger });
    const byHttp = await http.callApi('Send', { content: 'Hello over HTTP' });
    assert.ok(byHttp.isSucc, JSON.stringify(byHttp.err));
    assert.ok(byHttp.res.time instanceof Date);
    await waitFor('every client has the second chat', () => inboxes.every(inbox => inbox.length === 2));
    assert.ok(inboxes.every(inbox => inbox[1].content === 'Hello over HTTP'));
    const emptyByHttp = await http.callApi('Send', { content: '' });
    assert.strictEqual(expectError(emptyByHttp, TsrpcErrorType.ApiError).message, 'Content is empty');
    const sent = await http.sendMsg('Chat', { content: 'a message over HTTP', time: new Date() });
    assert.ok(sent.isSucc, JSON.stringify(sent));

    // A manual disconnect is reported as manual.
    let event: { reason?: string; isManual?: boolean } | undefined;
    clients[2].flows.postDisconnectFlow.push(v => { event = v; return v; });
    await clients[2].disconnect();
    await waitFor('postDisconnectFlow runs', () => event !== undefined);
    assert.strictEqual(event!.isManual, true);
    const later = await clients[0].callApi('Send', { content: 'still here' });
    assert.ok(later.isSucc);
    await waitFor('the connected clients have the third chat', () => inboxes[0].length === 3 && inboxes[1].length === 3);
    assert.strictEqual(inboxes[2].length, 2, 'a disconnected client gets nothing');
}

/** Every field type, errors and messages, over WebSocket and HTTP. */
async function rich() {
    const ws = new WsClient(richProto, { server: url, json, logger });
    const connected = await ws.connect();
    assert.ok(connected.isSucc, connected.errMsg);
    const http = new HttpClient(richProto, { server: httpUrl, json, logger });

    for (const client of [ws, http]) {
        const transport = client === ws ? 'WebSocket' : 'HTTP';
        // The server decodes exactly what TypeScript sent, and TypeScript
        // decodes exactly what the server sends.
        for (const withOptions of [true, false]) {
            const ret = await client.callApi('rich/Compare', { value: everything(withOptions), with_options: withOptions });
            assert.ok(ret.isSucc, `${transport}: ${JSON.stringify(ret.err)}`);
            assert.strictEqual(ret.res.same, true, `${transport}: the server decoded another value`);
            checkTypes(ret.res.mine);
            assert.deepStrictEqual(plain(ret.res.mine), plain(everything(withOptions)), transport);
            if (!withOptions) {
                // `None` is left out, as TSRPC leaves an absent property out.
                assert.ok(!('maybe_text' in ret.res.mine), 'None fields are absent properties');
            }
        }
        for (const shape of shapes) {
            const value = { ...everything(true), shapes: [shape] };
            const ret = await client.callApi('rich/Echo', { value });
            assert.ok(ret.isSucc, `${transport}: ${JSON.stringify(ret.err)}`);
            assert.deepStrictEqual(plain(ret.res.value), plain(value), transport);
            assert.ok(ret.res.received_at instanceof Date);
        }

        // Business errors: code and extra data.
        const wrong = await client.callApi('user/Login', { user: 'ann', password: 'nope' });
        const err = expectError(wrong, TsrpcErrorType.ApiError, 'BAD_PASSWORD');
        assert.strictEqual(err.message, 'Wrong password');
        assert.strictEqual(err.attempts, 3, 'extra error data');
        const ok = await client.callApi('user/Login', { user: 'ann', password: 'secret' });
        assert.ok(ok.isSucc && ok.res.token === 'token-of-ann', JSON.stringify(ok));
        const crash = await client.callApi('user/Login', { user: 'ann', password: 'crash' });
        expectError(crash, TsrpcErrorType.ServerError, 'INTERNAL_ERR');

        // Input that TypeScript's schema accepts but Rust refuses (u8).
        const tooBig = await client.callApi('rich/Echo', { value: { ...everything(false), small: 300 } });
        const input = expectError(tooBig, TsrpcErrorType.ServerError, 'INPUT_DATA_ERR');
        assert.match(input.message, /small/, 'the error names the field');
        // Input that TypeScript's own schema refuses, before sending.
        const negative = await client.callApi('rich/Echo', { value: { ...everything(false), small: -1 } });
        expectError(negative, TsrpcErrorType.ClientError, 'INPUT_DATA_ERR');
        const wrongType = await client.callApi('user/Login', { user: 'ann', password: 42 as unknown as string });
        expectError(wrongType, TsrpcErrorType.ClientError, 'INPUT_DATA_ERR');
    }

    await inputErrorsInTsrpcWords();

    // Messages both ways: Ping is answered with Pong, rich/Event, rich/Note.
    const pongs: MsgPong[] = [];
    const events: MsgEvent[] = [];
    const notes: MsgNote[] = [];
    ws.listenMsg('Pong', msg => { pongs.push(msg); });
    ws.listenMsg('rich/Event', msg => { events.push(msg); });
    ws.listenMsg('rich/Note', msg => { notes.push(msg); });
    const at = new Date('2026-01-02T03:04:05.678Z');
    const sent = await ws.sendMsg('Ping', { n: 7, at });
    assert.ok(sent.isSucc, JSON.stringify(sent));
    await waitFor('the answers arrive', () => pongs.length === 1 && events.length === 1 && notes.length === 1);
    assert.strictEqual(pongs[0].n, 7);
    assert.ok(pongs[0].at instanceof Date && pongs[0].at.getTime() === at.getTime());
    assert.ok(!('note' in pongs[0]), 'a None is an absent property');
    assert.deepStrictEqual(events[0], { n: 7, color: 'Blue' });
    assert.deepStrictEqual(notes[0], { text: 'ping 7' });
    const byHttp = await http.sendMsg('Ping', { n: 8, at });
    assert.ok(byHttp.isSucc, JSON.stringify(byHttp));
    // The WebSocket still works after all those errors.
    const still = await ws.callApi('user/Login', { user: 'bo', password: 'secret' });
    assert.ok(still.isSucc);

    // The server closes the connection with a reason.
    let event: { reason?: string; isManual?: boolean } | undefined;
    ws.flows.postDisconnectFlow.push(v => { event = v; return v; });
    await ws.callApi('Kick', { reason: 'Bye from Rust' });
    await waitFor('postDisconnectFlow runs', () => event !== undefined);
    assert.strictEqual(event!.reason, 'Bye from Rust');
    assert.strictEqual(event!.isManual, false);
    assert.strictEqual(ws.isConnected, false);
}

/** Input errors read exactly as TSRPC's own server words them (TSRPC's test
 *  cases "throw type error in server" and "onInputBufferError"). */
async function inputErrorsInTsrpcWords() {
    // A wrong type, posted by hand (TSRPC's clients check types before sending).
    const posted = await fetch(`${httpUrl}/user/Login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ user: 12345, password: 'x' }),
    });
    assert.deepStrictEqual(JSON.parse(await posted.text()), {
        isSucc: false,
        err: {
            code: 'INPUT_DATA_ERR',
            message: 'Property `user`: Expected type to be `string`, actually `number`.',
            type: 'ServerError',
            path: 'user',
        },
    });
    const unknown = await fetch(`${httpUrl}/NoSuchApi?a=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
    });
    assert.deepStrictEqual(JSON.parse(await unknown.text()), {
        isSucc: false,
        err: { message: 'Invalid URL path: /NoSuchApi?a=1', type: 'ServerError', code: 'INPUT_DATA_ERR' },
    });

    // Text that is not JSON: each client sends its request reversed, and the
    // error is what this very Node's JSON.parse says of that text.
    const reversed = (text: string) => text.split('').reverse().join('');
    const parseError = (text: string) => {
        try {
            JSON.parse(text);
        } catch (e) {
            return `Input is not a valid JSON string: ${(e as Error).message}`;
        }
        throw new Error(`${text} parses`);
    };
    // JSON text is what these errors are about: JSON mode, whatever the rest uses.
    const http = new HttpClient(richProto, { server: httpUrl, json: true, logger });
    http.flows.preSendDataFlow.push(v => { v.data = reversed(v.data as string); return v; });
    const overHttp = await http.callApi('user/Login', { user: 'XXX', password: 'x' });
    assert.deepStrictEqual(overHttp, {
        isSucc: false,
        err: new TsrpcError(parseError(reversed(JSON.stringify({ user: 'XXX', password: 'x' }))), {
            type: TsrpcErrorType.ServerError,
            code: 'INPUT_DATA_ERR',
        }),
    });
    // Over WebSocket the server closes, with the text as the reason (TSRPC's
    // close), and the client fails the call with it.
    const ws = new WsClient(richProto, { server: url, json: true, logger });
    const connected = await ws.connect();
    assert.ok(connected.isSucc, connected.errMsg);
    ws.flows.preSendDataFlow.push(v => { v.data = reversed(v.data as string); return v; });
    const overWs = await ws.callApi('user/Login', { user: 'XXX', password: 'x' });
    const frame = JSON.stringify(['user/Login', { user: 'XXX', password: 'x' }, 1]);
    assert.deepStrictEqual(overWs, {
        isSucc: false,
        err: new TsrpcError(parseError(reversed(frame)), { type: TsrpcErrorType.NetworkError, code: 'LOST_CONN' }),
    });
    assert.strictEqual(ws.isConnected, false);
}

function checkTypes(value: Everything) {
    assert.ok(value.at instanceof Date, 'a Timestamp is a Date');
    assert.ok(value.data instanceof Uint8Array, 'a Binary is a Uint8Array');
    if (value.maybe_data !== undefined) {
        assert.ok(value.maybe_data instanceof Uint8Array);
    }
}

/** Heartbeats keep a connection that the server closes when silent. */
async function heartbeat() {
    let pongs = 0;
    const counting = {
        debug() {},
        log(...args: unknown[]) {
            if (String(args[0]).includes('Recv pong')) {
                pongs += 1;
            }
        },
        warn() {},
        error() {},
    };
    const alive = new WsClient(richProto, {
        server: url,
        json,
        heartbeat: { interval: 100, timeout: 5000 },
        logger: counting,
        debugBuf: true,
        logApi: false,
        logMsg: false,
    });
    const silent = new WsClient(richProto, { server: url, json, logger });
    const dropped: { alive?: { reason?: string; isManual?: boolean }; silent?: { reason?: string; isManual?: boolean } } = {};
    alive.flows.postDisconnectFlow.push(v => { dropped.alive = v; return v; });
    silent.flows.postDisconnectFlow.push(v => { dropped.silent = v; return v; });
    for (const client of [alive, silent]) {
        const connected = await client.connect();
        assert.ok(connected.isSucc, connected.errMsg);
    }
    await waitFor('the server drops the silent client', () => dropped.silent !== undefined);
    assert.match(dropped.silent!.reason ?? '', /heartbeat/i);
    assert.strictEqual(dropped.silent!.isManual, false);
    assert.strictEqual(dropped.alive, undefined, 'the client sending heartbeats stays');
    assert.ok(alive.isConnected);
    assert.ok(pongs > 0, 'the server answers heartbeats');
    assert.strictEqual(typeof alive.lastHeartbeatLatency, 'number');
    const ret = await alive.callApi('user/Login', { user: 'hb', password: 'secret' });
    assert.ok(ret.isSucc);
    await alive.disconnect();
}
