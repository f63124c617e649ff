/**
 * The merge's one slot a path (src/rootfs/decisions.ts PathTable): a layer's
 * own values go stale when its pass ends, a decision stays, and the paths only
 * a hidden layer held are dropped once they are many, without touching the
 * decided ones or leaking a dropped slot's values into the path that reuses it.
 */
import { describe, expect, it } from 'vitest';
import { DIR, Decisions, NONDIR, PathTable } from '../../src/rootfs/decisions.js';
import type { PathIndex } from '../../src/path-index.js';

describe('PathTable', () => {
  it("a layer's values last for its pass only; decisions stay", () => {
    const t = new PathTable();
    t.beginLayer();
    t.setLocal('a', -1);
    t.setLocal('a/b', 7);
    t.setDecision('a/b', 3 * 16 + NONDIR);
    expect([t.getLocal('a'), t.getLocal('a/b'), t.getLocal('c')]).toEqual([-1, 7, undefined]);
    t.endLayer();
    t.beginLayer();
    expect([t.getLocal('a'), t.getLocal('a/b')]).toEqual([undefined, undefined]);
    expect([t.getDecision('a'), t.getDecision('a/b')]).toEqual([undefined, 3 * 16 + NONDIR]);
  });

  it('dropLocalUnder forgets the layer values below a prefix only', () => {
    const t = new PathTable();
    t.beginLayer();
    for (const p of ['d', 'd/x', 'd/x/y', 'dd', 'e']) t.setLocal(p, 1);
    t.setDecision('d/x', DIR);
    t.dropLocalUnder('d/');
    expect(['d', 'd/x', 'd/x/y', 'dd', 'e'].map((p) => t.getLocal(p))).toEqual([1, undefined, undefined, 1, 1]);
    expect(t.getDecision('d/x')).toBe(DIR);
  });

  it('sweeps undecided paths once they are many; decided ones and reused slots come out right', () => {
    const t = new PathTable();
    const d = new Decisions(t);
    t.beginLayer();
    for (let i = 0; i < 10_000; i++) t.setLocal(`hidden/${i}`, i);
    for (let i = 0; i < 100; i++) d.set(`kept/${i}`, { layer: 2, kind: NONDIR, sealed: false, pending: false });
    t.endLayer();
    t.beginLayer();
    // New paths take the swept slots: nothing of the old values may show through.
    for (let i = 0; i < 10_000; i++) expect(t.getLocal(`new/${i}`)).toBeUndefined();
    for (let i = 0; i < 10_000; i++) t.setLocal(`new/${i}`, 5);
    for (let i = 0; i < 10_000; i++) {
      expect(t.getDecision(`new/${i}`)).toBeUndefined();
      expect(t.getLocal(`hidden/${i}`)).toBeUndefined();
    }
    for (let i = 0; i < 100; i++) expect(d.get(`kept/${i}`)).toEqual({ layer: 2, kind: NONDIR, sealed: false, pending: false });
    expect(t.getLocal('new/9999')).toBe(5);
    // The table did not grow past what was live: the swept slots were reused. Live are the 10,100 paths and
    // the two parents `kept` and `new`, nodes of the index's tree but no paths (`hidden` went with its last child).
    const paths = (t as unknown as { paths: PathIndex }).paths;
    expect(paths.idLimit).toBe(10_102);
    expect(paths.size).toBe(10_100);
  });
});
