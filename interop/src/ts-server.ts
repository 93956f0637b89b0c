// TSRPC's own servers (`tsrpc` 3.4.x, JSON mode) in Node, implementing the
// `rich` protocol exported from tests/interop.rs, for the Rust clients.
// Prints the ports as one JSON line, then serves until stdin closes.
import { ApiCall, HttpServer, WsConnection, WsServer } from 'tsrpc';
import { AddressInfo } from 'net';
import { ServiceType, serviceProto } from '../generated/rich/serviceProto';
import { plain, serverLogger } from './common';
import { everything } from './values';
import { isDeepStrictEqual } from 'util';

type Server = WsServer<ServiceType> | HttpServer<ServiceType>;

function implement(server: Server) {
    server.implementApi('rich/Echo', async call => {
        await call.succ({ value: call.req.value, received_at: new Date() });
    });
    server.implementApi('rich/Compare', async call => {
        const mine = everything(call.req.with_options);
        await call.succ({ same: isDeepStrictEqual(plain(call.req.value), plain(mine)), mine });
    });
    server.implementApi('user/Login', async (call: ApiCall<ServiceType['api']['user/Login']['req'], ServiceType['api']['user/Login']['res']>) => {
        if (call.req.password === 'secret') {
            await call.succ({ token: `token-of-${call.req.user}` });
        } else if (call.req.password === 'crash') {
            throw new Error('the password check crashed (on purpose, in a test)');
        } else {
            await call.error('Wrong password', { code: 'BAD_PASSWORD', attempts: 3 });
        }
    });
    server.implementApi('Kick', async call => {
        await call.succ({});
        if (call.conn instanceof WsConnection) {
            await call.conn.close(call.req.reason);
        }
    });
    server.listenMsg('Ping', async call => {
        // Over HTTP there is no way back to the sender.
        if (!(call.conn instanceof WsConnection)) {
            return;
        }
        const { n, at } = call.msg;
        await call.conn.sendMsg('Pong', { n, at, note: 'from Node' });
        await call.conn.sendMsg('rich/Event', { n, color: 'Blue' });
        await call.conn.sendMsg('rich/Note', { text: `ping ${n}` });
    });
}

async function start() {
    const options = { port: 0, json: true, logger: serverLogger, returnInnerError: false };
    const ws = new WsServer(serviceProto, options);
    const wsHeartbeat = new WsServer(serviceProto, { ...options, heartbeatWaitTime: 1000 });
    const http = new HttpServer(serviceProto, options);
    for (const server of [ws, wsHeartbeat, http]) {
        implement(server);
        await server.start();
    }
    const port = (server: { address(): unknown } | undefined) => (server?.address() as AddressInfo).port;
    console.log(JSON.stringify({
        ws: port((ws as any)._httpServer),
        wsHeartbeat: port((wsHeartbeat as any)._httpServer),
        http: port(http.httpServer),
    }));
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));
}

start().catch(e => {
    console.error(e);
    process.exit(1);
});
