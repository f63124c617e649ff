/**
 * check's one number per path (src/check/layer-lint.ts Items): kind, offset
 * and whether the entry was explicit come back exactly, for offsets far past
 * 4 GB and for one off the block grid; a block-aligned one is stored as a
 * small integer (a byte offset × 8 became a 16-byte heap number per path past
 * 256 MB of tar).
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

  it('keeps a block-aligned offset of a 1.3 GB tar as a small integer', () => {
    const items = new Items();
    items.set('a', { kind: 'nondir', offset: 1_324_404_736, explicit: true });
    const stored = (items as unknown as { m: Map<string, number> }).m.get('a') as number;
    expect(Number.isInteger(stored)).toBe(true);
    expect(stored).toBeLessThan(2 ** 30);
  });
});
