// The browser chatroom on two chatroom servers that share one chat through
// Redis: a pane on each (the page's `?servers=` names them). Run by
// tests/browser.rs, which owns the servers and Redis:
//
//   node e2e-cluster.mjs <page URL with ?servers=..> <screenshot path>
//
// It prints "STEP restart-redis" and waits for "restarted" on stdin, and
// "DONE" at the end.
import { inChromium, panes, step } from './e2e-lib.mjs';

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
    console.error('usage: node e2e-cluster.mjs <page URL> <screenshot path>');
    process.exit(2);
}

await inChromium(async page => {
    const { messages, expectStatus, say } = panes(page);
    await page.goto(url);
    await expectStatus(1, 'connected');
    await expectStatus(2, 'connected');
    console.log('a pane on each server');

    /** Each pane shows `text` once. */
    const seenOnceByBoth = async text => {
        for (const n of [1, 2]) await messages(n).filter({ hasText: text }).waitFor({ timeout: 10000 });
        await page.waitForTimeout(200);
        for (const n of [1, 2]) {
            const count = await messages(n).filter({ hasText: text }).count();
            if (count !== 1) throw new Error(`pane ${n} shows "${text}" ${count} times`);
        }
    };
    await say(1, 'Hello from the first server');
    await seenOnceByBoth('Hello from the first server');
    await say(2, 'Hello from the second server');
    await seenOnceByBoth('Hello from the second server');
    console.log('chats crossed both ways');

    await step('restart-redis', 'restarted');
    await say(2, 'After the Redis restart');
    await seenOnceByBoth('After the Redis restart');
    console.log('chats cross after the restart');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(`screenshot: ${screenshot}`);
});
