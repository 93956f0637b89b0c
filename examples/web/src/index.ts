// The chatroom front end: two panes, each with its own tsrpc-browser
// WsClient in TSRPC's default binary mode (TSBuffer; `?json=1` for JSON
// mode), using the serviceProto exported from the Rust protocol
// definitions (src/shared/protocols, written by build.sh).
//
// Both panes connect to the server that served the page, unless the page's
// URL names theirs: `?servers=ws://127.0.0.1:4001,ws://127.0.0.1:4002`
// puts a pane on each of two chatroom servers that share one chat through
// Redis (`chatroom-server --redis URL`).
import { WsClient } from 'tsrpc-browser';
import { serviceProto, ServiceType } from './shared/protocols/serviceProto';

/** JSON mode (`?json=1`) rather than TSRPC's default binary mode. */
const JSON_MODE = new URLSearchParams(location.search).get('json') === '1';

type Status = 'connecting' | 'connected' | 'disconnected';

/** Reconnect this long after a disconnect nobody asked for (TSRPC's example). */
const RECONNECT_DELAY_MS = 2000;

function element<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
}

function formatTime(time: Date | string): string {
    const date = time instanceof Date ? time : new Date(time);
    return date.toLocaleTimeString([], { hour12: false });
}

class ChatPane {
    private readonly client: WsClient<ServiceType>;
    private readonly status = element('span', 'status');
    private readonly list = element('ul', 'messages');
    private readonly error = element('div', 'error');
    private readonly input = element('input');

    constructor(title: string, server: string, container: HTMLElement) {
        const pane = element('section', 'pane');
        pane.dataset.pane = title;
        const header = element('header');
        header.append(element('h2', undefined, title), element('small', 'server', server), this.status);
        const form = element('form');
        this.input.placeholder = 'Say something...';
        this.input.setAttribute('aria-label', `Message from ${title}`);
        const send = element('button', undefined, 'Send');
        send.type = 'submit';
        form.append(this.input, send);
        form.addEventListener('submit', event => {
            event.preventDefault(); // Enter and the button both land here.
            void this.send();
        });
        pane.append(header, this.list, this.error, form);
        container.append(pane);

        this.client = new WsClient(serviceProto, {
            server,
            // TSRPC's default binary mode (TSBuffer), or JSON mode with `?json=1`.
            json: JSON_MODE,
            // The server closes connections silent for a minute.
            heartbeat: { interval: 20000, timeout: 10000 },
            logger: console,
        });
        this.client.listenMsg('Chat', msg => this.show(msg.content, msg.time));
        this.client.flows.postDisconnectFlow.push(v => {
            this.setStatus('disconnected');
            if (!v.isManual) {
                setTimeout(() => void this.connect(), RECONNECT_DELAY_MS);
            }
            return v;
        });
    }

    private setStatus(status: Status) {
        this.status.textContent = status;
        this.status.className = `status ${status}`;
    }

    async connect(): Promise<void> {
        this.setStatus('connecting');
        const res = await this.client.connect();
        if (res.isSucc) {
            this.setStatus('connected');
        } else {
            this.setStatus('disconnected');
            setTimeout(() => void this.connect(), RECONNECT_DELAY_MS);
        }
    }

    private show(content: string, time: Date | string) {
        const item = element('li');
        item.append(element('time', undefined, formatTime(time)), document.createTextNode(content));
        this.list.append(item);
        this.list.scrollTop = this.list.scrollHeight;
    }

    private async send() {
        const ret = await this.client.callApi('Send', { content: this.input.value });
        if (ret.isSucc) {
            this.input.value = '';
            this.error.textContent = '';
        } else {
            this.error.textContent = ret.err.message;
        }
    }
}

const here = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
const named = (new URLSearchParams(location.search).get('servers') ?? '').split(',').filter(s => s !== '');
const panes = document.getElementById('panes')!;
for (const [i, title] of ['Client #1', 'Client #2'].entries()) {
    void new ChatPane(title, named[i] ?? named[0] ?? here, panes).connect();
}
