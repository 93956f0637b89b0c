// What the browser tests share (e2e.mjs, e2e-cluster.mjs): the steps the
// Rust test answers on stdin, Debian's Chromium driven by playwright-core,
// and the chat panes of the page.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Prints "STEP name" and waits for `answer` on stdin. */
export async function step(name, answer) {
    console.log(`STEP ${name}`);
    const { value, done } = await lines.next();
    if (done || value.trim() !== answer) throw new Error(`expected "${answer}" after ${name}, got ${value}`);
}

/** The page's panes, by number. */
export function panes(page) {
    const pane = n => page.locator(`section.pane[data-pane="Client #${n}"]`);
    return {
        pane,
        status: n => pane(n).locator('.status'),
        messages: n => pane(n).locator('.messages li'),
        expectStatus: async (n, text, timeout = 10000) =>
            page.waitForFunction(([n, text]) =>
                document.querySelector(`section.pane[data-pane="Client #${n}"] .status`)?.textContent === text, [n, text], { timeout }),
        /** Types `text` in pane `n` and sends it with Enter. */
        say: async (n, text) => {
            await pane(n).locator('input').fill(text);
            await pane(n).locator('input').press('Enter');
        },
    };
}

/** Runs `body(page)` in a fresh headless Chromium; exits 1 if it throws. */
export async function inChromium(body) {
    const userDataDir = mkdtempSync(join(tmpdir(), 'tsrpc-e2e-'));
    const context = await chromium.launchPersistentContext(userDataDir, {
        executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
        headless: true,
        args: [
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync',
        ],
        viewport: { width: 1100, height: 700 },
    });
    let failed = false;
    try {
        const page = context.pages()[0] ?? await context.newPage();
        page.on('pageerror', e => console.error(`page error: ${e.message}`));
        await body(page);
        console.log('DONE');
    } catch (e) {
        failed = true;
        console.error(`e2e failed: ${e?.stack ?? e}`);
    } finally {
        await context.close();
        rmSync(userDataDir, { recursive: true, force: true });
    }
    process.exit(failed ? 1 : 0);
}
