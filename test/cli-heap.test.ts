/**
 * The CLI's heap growth (src/cli/heap.ts, SPEC.md §10): with a few MB of live
 * heap and a stream of fresh buffers, V8 ran a full collection every ~16 MB of
 * data; tuned, it lets the old generation grow while it is small, caps its
 * growth once it is large, and gives V8 its own rule back when the tuning stops.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LARGE_HEAP_GROWING_PERCENT, SMALL_HEAP_GROWING_PERCENT, SMALL_OLD_GEN, growingPercentFor } from '../src/cli/heap.js';
import { REPO } from './helpers/hostile-cli.js';

const major = Number(process.versions.v8.split('.')[0]);
const known = major >= 11 && major <= 14;
if (!known) console.warn(`cli-heap: V8 ${process.versions.v8} is not one the tuning knows; the churn test is skipped`);

describe('heap growth', () => {
  it('grows a lot while the old generation is small, and by half once it is large', () => {
    expect(growingPercentFor(0)).toBe(SMALL_HEAP_GROWING_PERCENT);
    expect(growingPercentFor(SMALL_OLD_GEN - 1)).toBe(SMALL_HEAP_GROWING_PERCENT);
    expect(growingPercentFor(SMALL_OLD_GEN)).toBe(LARGE_HEAP_GROWING_PERCENT);
    expect(growingPercentFor(10 * SMALL_OLD_GEN)).toBe(LARGE_HEAP_GROWING_PERCENT);
    expect(LARGE_HEAP_GROWING_PERCENT).toBeLessThan(SMALL_HEAP_GROWING_PERCENT);
  });

  // V8 reports the growing factor of each new old-generation limit under
  // --trace-gc-verbose ("Limit: old size: …, new limit: … (5.0)").
  it.skipIf(!known)('reaches V8: the next limit grows by 1 + 400%, and by V8\'s own factor after stop', () => {
    const heap = path.join(REPO, 'dist/cli/heap.js');
    const script = `
      const { tuneHeapGrowth } = await import(${JSON.stringify(heap)});
      const stop = tuneHeapGrowth();
      await new Promise((r) => setTimeout(r, 400));
      console.log('tuned');
      globalThis.gc();
      stop();
      console.log('stopped');
      globalThis.gc();`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--trace-gc-verbose', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const factors = (after: string, before: string): string[] =>
      [...out.slice(out.indexOf(`${after}\n`), out.indexOf(`${before}\n`) < 0 ? undefined : out.indexOf(`${before}\n`)).matchAll(/\[HeapController\] Limit: .*\(([0-9.]+)\)/g)].map((m) => m[1] ?? '');
    const want = (1 + SMALL_HEAP_GROWING_PERCENT / 100).toFixed(1);
    expect(factors('tuned', 'stopped')).toEqual([want]);
    const after = factors('stopped', '\u0000');
    expect(after).toHaveLength(1);
    expect(after[0]).not.toBe(want);
  }, 60_000);

  it.skipIf(!known)('reaches V8: with a large live old generation the next limit grows by 1 + 50%', () => {
    const heap = path.join(REPO, 'dist/cli/heap.js');
    // ~40 MB kept alive (an index of paths, as a flatten of a big layer holds), then a full GC once the tuner has looked.
    const script = `
      const { tuneHeapGrowth } = await import(${JSON.stringify(heap)});
      const keep = [];
      for (let i = 0; i < 400000; i++) keep.push('usr/share/some/package/path/file-' + i + '.txt');
      globalThis.gc();
      const stop = tuneHeapGrowth();
      await new Promise((r) => setTimeout(r, 400));
      console.log('tuned');
      globalThis.gc();
      console.log('done', keep.length);
      stop();`;
    const out = execFileSync(process.execPath, ['--expose-gc', '--trace-gc-verbose', '--input-type=module', '-e', script], { encoding: 'utf8' });
    const tuned = out.slice(out.indexOf('tuned\n'), out.indexOf('done '));
    const factors = [...tuned.matchAll(/\[HeapController\] Limit: old size: (\d+) KB.*\(([0-9.]+)\)/g)];
    expect(factors).toHaveLength(1);
    expect(Number(factors[0]?.[1]) * 1024).toBeGreaterThan(SMALL_OLD_GEN);
    expect(factors[0]?.[2]).toBe((1 + LARGE_HEAP_GROWING_PERCENT / 100).toFixed(1));
  }, 60_000);
});
