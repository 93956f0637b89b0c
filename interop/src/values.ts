// The sample values the interop tests exchange: the same as `everything()`
// in tests/interop.rs, so each side can check what the other decoded.
import { Everything, Shape } from '../generated/rich/types';

export function everything(withOptions: boolean): Everything {
    const value: Everything = {
        text: 'héllo "wörld" ✓',
        flag: true,
        int: -42,
        big: -9007199254740991,
        small: 255,
        ratio: 0.1 + 0.2,
        tags: ['a', 'b'],
        point: { x: 1, y: -2 },
        path: [{ x: 0, y: 0 }, { x: 3, y: 4 }],
        color: 'Green',
        shapes: [
            'Dot',
            { Circle: 1.5 },
            { Line: [{ x: 1, y: 1 }, { x: 2, y: 2 }] },
            { Rect: withOptions ? { w: 3, h: 4, label: 'box' } : { w: 3, h: 4 } },
        ],
        scores: { alice: 9.5, bob: -1 },
        names: { 1: 'one', 20: 'twenty' },
        by_color: { Red: 1, Blue: 3 },
        at: new Date('2026-11-22T04:39:02.123Z'),
        data: new Uint8Array([0, 1, 2, 254, 255]),
        pair: ['left', 65535],
        rgb: [255, 128, 0],
        tree: { name: 'root', children: [{ name: 'leaf', children: [] }] },
    };
    if (withOptions) {
        value.maybe_text = 'present';
        value.maybe_count = 0;
        value.maybe_data = new Uint8Array([9, 9, 9, 9]);
    }
    return value;
}

/** One value of each variant of `Shape`. */
export const shapes: Shape[] = [
    'Dot',
    { Circle: 1.5 },
    { Line: [{ x: 1, y: 1 }, { x: 2, y: 2 }] },
    { Rect: { w: 1, h: 2, label: 'x' } },
];
