import { describe, expect, it } from 'vitest';
import { planOpaque, planWhiteouts, type PathKind } from '../src/layer/rules.js';

const layer = (kinds: Record<string, PathKind>) => (p: string): PathKind => kinds[p] ?? 'absent';

describe('planWhiteouts (SPEC §Layer rules)', () => {
  it('keeps a whiteout of something only below', async () => {
    const plan = await planWhiteouts(['a'], new Set(), layer({}));
    expect(plan.whiteouts).toEqual(['a']);
  });
  it('a whiteout hides only lower layers: the same layer’s file stays', async () => {
    const plan = await planWhiteouts(['a'], new Set(), layer({ a: 'nondir' }));
    expect(plan.whiteouts).toEqual([]);
    expect(plan.dropped[0]?.path).toBe('a');
  });
  it('.wh.X with a directory X in the same layer makes X opaque', async () => {
    const plan = await planWhiteouts(['x'], new Set(), layer({ x: 'dir' }));
    expect(plan.madeOpaque).toEqual(['x']);
    expect(plan.whiteouts).toEqual([]);
  });
  it('drops whiteouts inside an opaque directory', async () => {
    const plan = await planWhiteouts(['d/a', 'd/e/f', 'x'], new Set(['d']), layer({ d: 'dir' }));
    expect(plan.whiteouts).toEqual(['x']);
    expect(plan.dropped.map((d) => d.path).sort()).toEqual(['d/a', 'd/e/f']);
  });
  it('drops a whiteout below a whited-out directory (rm -rf /foo/bar)', async () => {
    const plan = await planWhiteouts(['foo', 'foo/bar'], new Set(), layer({}));
    expect(plan.whiteouts).toEqual(['foo']);
  });
  it('drops a whiteout below a path the layer replaces with a file', async () => {
    const plan = await planWhiteouts(['a/b'], new Set(), layer({ a: 'nondir' }));
    expect(plan.whiteouts).toEqual([]);
  });
  it('a root opaque marker swallows every whiteout', async () => {
    const plan = await planWhiteouts(['a', 'b/c'], new Set(['']), layer({}));
    expect(plan.whiteouts).toEqual([]);
  });
  it('drops an opaque marker at or below a path the layer adds as a file', async () => {
    const plan = await planOpaque(['a', 'b/c', 'd'], layer({ a: 'nondir', b: 'nondir', d: 'dir' }));
    expect(plan.kept).toEqual(['d']);
    expect(plan.dropped.map((x) => x.path)).toEqual(['a', 'b/c']);
  });
});
