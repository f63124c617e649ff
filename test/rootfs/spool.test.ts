/**
 * flatten's spool of hidden files (src/rootfs/spool.ts): a hardlink whose target
 * a higher layer hid gets the target's old content from what the first pass
 * kept, so the layer is read once; past the budget, the second pass is the
 * fallback, with the same result.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/entry.js';
import { readOciLayer } from '../../src/layer/oci-read.js';
import { type MergeLayer, mergeLayers } from '../../src/rootfs/merge.js';
import { HiddenSpool } from '../../src/rootfs/spool.js';
import { makeTar, rmrf, tempDir } from '../image/helpers.js';

const tmp = tempDir('whiteout-spool-test-');
afterAll(() => rmrf(tmp));

async function collectBody(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}

const BIG_OLD = 'old'.repeat(40_000);

/** Bottom: a (file `old`), s (symlink), then links to both, then 50 files; top: a and s replaced. */
async function stack(old: string) {
  const l0 = await makeTar([
    { name: 'a', content: old },
    { name: 's', type: 'symlink', linkname: 'somewhere' },
    { name: 'b', type: 'link', linkname: 'a' },
    { name: 'c', type: 'link', linkname: 'a' },
    { name: 't', type: 'link', linkname: 's' },
    ...Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: `${i}` })),
  ]);
  const l1 = await makeTar([
    { name: 'a', content: 'new' },
    { name: 's', content: 'not a link now' },
  ]);
  return { l0, l1 };
}

/** Merge the stack, counting the entries each read of the bottom layer gave; bodies read to the end. */
async function run(spool: HiddenSpool | undefined, old = 'old') {
  const { l0, l1 } = await stack(old);
  const reads: number[] = [];
  const layer = (tar: Buffer, what: string, count: boolean): MergeLayer => ({
    what,
    entries: async function* (): AsyncGenerator<Entry> {
      const i = reads.length;
      if (count) reads.push(0);
      for await (const e of readOciLayer((async function* () { yield tar; })(), { name: what })) {
        if (count) reads[i] = (reads[i] ?? 0) + 1;
        yield e;
      }
    },
  });
  const out = new Map<string, { e: Entry; body?: string }>();
  for await (const e of mergeLayers([layer(l0, 'l0', true), layer(l1, 'l1', false)], spool ? { spool } : {})) {
    out.set(e.path, e.kind === 'file' ? { e, body: (await collectBody(e.body)).toString() } : { e });
  }
  return { reads, out };
}

function expectOldContent(out: Map<string, { e: Entry; body?: string }>, old = 'old'): void {
  expect(out.get('a')?.body).toBe('new');
  // b carries the old inode; c links to b.
  expect(out.get('b')).toMatchObject({ e: { kind: 'file', size: old.length }, body: old });
  expect(out.get('c')?.e).toMatchObject({ kind: 'hardlink', target: 'b' });
  expect(out.get('t')?.e).toMatchObject({ kind: 'symlink', target: 'somewhere' });
}

describe('the spool of hidden files', () => {
  it('gives hardlinks their hidden targets from the first pass: the layer is read once (a small body in memory)', async () => {
    const dir = path.join(tmp, 'small');
    const spool = new HiddenSpool(dir);
    const { reads, out } = await run(spool);
    expect(reads).toEqual([55]);
    expectOldContent(out);
    // Nothing went to disk: a small body is kept in memory.
    expect(fs.existsSync(dir)).toBe(false);
    spool.remove();
  });

  it('a big body goes to a file in the spool directory, which is emptied once the layer is done', async () => {
    const dir = path.join(tmp, 'big');
    const spool = new HiddenSpool(dir);
    const { reads, out } = await run(spool, BIG_OLD);
    expect(reads).toEqual([55]);
    expectOldContent(out, BIG_OLD);
    expect(fs.readdirSync(dir)).toEqual([]);
    spool.remove();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a small body goes to disk once the memory budget is spent', async () => {
    const dir = path.join(tmp, 'small-on-disk');
    const spool = new HiddenSpool(dir, { diskBytes: 1 << 20, memoryBytes: 0, entries: 100 });
    const { reads, out } = await run(spool);
    expect(reads).toEqual([55]);
    expectOldContent(out);
    expect(fs.readdirSync(dir)).toEqual([]);
    spool.remove();
  });

  it.each([
    ['bytes (in memory and on disk)', { diskBytes: 2, memoryBytes: 2, entries: 100 }, 'old'],
    ['bytes on disk', { diskBytes: 1000, memoryBytes: 1 << 20, entries: 100 }, BIG_OLD],
    ['entries (the symlink does not fit)', { diskBytes: 1 << 20, memoryBytes: 1 << 20, entries: 1 }, 'old'],
  ])('past its budget of %s, falls back to a second read, with the same result', async (_, budget, old) => {
    const spool = new HiddenSpool(path.join(tmp, `tiny-${budget.entries}-${budget.diskBytes}`), budget);
    const { reads, out } = await run(spool, old);
    expect(reads).toEqual([55, 55]);
    expectOldContent(out, old);
    spool.remove();
  });

  it('without one, reads the layer twice (the old way)', async () => {
    const { reads, out } = await run(undefined);
    expect(reads).toEqual([55, 55]);
    expectOldContent(out);
  });

  it('refuses a directory that is already there', async () => {
    const dir = path.join(tmp, 'exists');
    fs.mkdirSync(dir);
    const spool = new HiddenSpool(dir);
    await expect(run(spool, BIG_OLD)).rejects.toThrow(/EEXIST/);
  });
});
