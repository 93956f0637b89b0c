// Helpers shared by the interop scripts. Each script is run by
// tests/interop.rs, prints `ok <scenario>` and exits 0 when every check
// passed, or prints the failure and exits 1.
import * as assert from 'assert';
import { Logger } from 'tsrpc';

export { assert };

/** Prints TSRPC's own logs when INTEROP_DEBUG is set; silent otherwise. */
export const logger: Logger | undefined = process.env.INTEROP_DEBUG ? console : undefined;

/** A logger for servers, which always log: silent unless INTEROP_DEBUG. */
export const serverLogger: Logger = logger ?? { debug() {}, log() {}, warn() {}, error() {} };

/** Waits until `done()` is true; fails after `ms` (a guard, not a measure). */
export async function waitFor(what: string, done: () => boolean, ms = 10_000): Promise<void> {
    const start = Date.now();
    while (!done()) {
        if (Date.now() - start > ms) {
            throw new Error(`timed out waiting until ${what}`);
        }
        await new Promise(rs => setTimeout(rs, 5));
    }
}

/** Runs a script: exits 0 after `body` resolves, 1 if it throws, 2 if it hangs. */
export function main(body: () => Promise<void>): void {
    setTimeout(() => {
        console.error('the script did not finish within 30 s');
        process.exit(2);
    }, 30_000).unref();
    body().then(
        () => process.exit(0),
        e => {
            console.error(e);
            process.exit(1);
        },
    );
}

/**
 * A value with Dates as ISO strings and byte arrays (Uint8Array, Buffer)
 * as plain arrays, for deep comparisons.
 */
export function plain(value: unknown): unknown {
    if (value instanceof Date) {
        return value.toISOString();
    }
    if (value instanceof Uint8Array) {
        return Array.from(value);
    }
    if (Array.isArray(value)) {
        return value.map(plain);
    }
    if (value !== null && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
    }
    return value;
}
