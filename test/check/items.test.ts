/**
 * check's one number per path (src/check/layer-lint.ts Items): kind, offset
 * and whether the entry was explicit come back exactly, for offsets far past
 * 4 GB and for one off the block grid; the paths come back in the order they
 * were first set (the merged view below is built from them).
 */
import { describe, expect, it } from 'vitest';
import { Items } from '../../src/check/layer-lint.js';

type Kind = 'dir' | 'symlink' | 'nondir' | 'marker';

describe('Items', () => {
  it('round-trips every kind, explicit or not, at small, large and unaligned offsets', () => {
    const items = new Items();
    const cases: { kind: Kind; offset: number; explicit: boolean }[] = [];
    for (const kind of ['dir', 'symlink', 'nondir', 'marker'] as const) {
      for (const offset of [0, 512, 1_324_404_736, 10 * 2 ** 30 + 512 * 7, 2 ** 40, 1000, 2 ** 33 + 3]) {
        for (const explicit of [true, false]) cases.push({ kind, offset, explicit });
      }
    }
    cases.forEach((c, i) => items.set(`p${i}`, c));
    cases.forEach((c, i) => expect(items.get(`p${i}`)).toEqual(c));
    expect(items.get('absent')).toBeUndefined();
  });

  it('lists its paths in the order they were first set, each once', () => {
    const items = new Items();
    for (const p of ['z', 'a', 'z', '', 'm\xff']) items.set(p, { kind: 'dir', offset: 0, explicit: true });
    expect([...items.keys()]).toEqual(['z', 'a', '', 'm\xff']);
  });
});
