// End-to-end test of the browser chatroom in Debian's Chromium, driven by
// playwright-core. Run by tests/browser.rs, which owns the server:
//
//   node e2e.mjs <page URL> <screenshot path>
//
// It prints "STEP stop-server" and waits for "stopped" on stdin, then
// "STEP start-server" and waits for "started", and "DONE" at the end.
import { inChromium, panes, step } from './e2e-lib.mjs';

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
    console.error('usage: node e2e.mjs <page URL> <screenshot path>');
    process.exit(2);
}

await inChromium(async page => {
    const { pane, status, messages, expectStatus } = panes(page);

    await page.goto(url);
    await expectStatus(1, 'connected');
    await expectStatus(2, 'connected');
    console.log('both panes connected');

    // Typed in pane 1 and sent with Enter: both panes show it, with a time.
    await pane(1).locator('input').fill('Hello from pane 1');
    await pane(1).locator('input').press('Enter');
    for (const n of [1, 2]) {
        await messages(n).filter({ hasText: 'Hello from pane 1' }).waitFor({ timeout: 10000 });
        const time = await messages(n).first().locator('time').textContent();
        if (!/^\d{2}:\d{2}:\d{2}$/.test(time ?? '')) throw new Error(`pane ${n} shows no time: ${time}`);
    }
    console.log('message seen in both panes');

    // Empty content, sent with the button: the ApiError shows in pane 2.
    await pane(2).locator('button').click();
    await page.waitForFunction(() =>
        document.querySelector('section.pane[data-pane="Client #2"] .error')?.textContent === 'Content is empty', null, { timeout: 10000 });
    console.log('empty message refused');

    // The server goes away: both panes notice; it comes back: both reconnect by themselves.
    await step('stop-server', 'stopped');
    for (const n of [1, 2]) {
        await page.waitForFunction(n =>
            document.querySelector(`section.pane[data-pane="Client #${n}"] .status`)?.textContent !== 'connected', n, { timeout: 10000 });
    }
    console.log(`after the stop: ${await status(1).textContent()} / ${await status(2).textContent()}`);
    await step('start-server', 'started');
    await expectStatus(1, 'connected', 20000);
    await expectStatus(2, 'connected', 20000);
    console.log('both panes reconnected');

    await pane(2).locator('input').fill('Back again');
    await pane(2).locator('button').click();
    for (const n of [1, 2]) await messages(n).filter({ hasText: 'Back again' }).waitFor({ timeout: 10000 });
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot: ${screenshot}`);
});
