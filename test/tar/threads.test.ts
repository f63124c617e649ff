/**
 * The performance paths of issue 7 give the same bytes and digests as the
 * plain ones: hashing on the shared thread, reading ahead (SPEC.md §10).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileRange, readSource } from '../../src/io.js';
import { ThreadedHash, digestPassThrough } from '../../src/tar/digest.js';
import { REPO } from '../helpers/hostile-cli.js';
import { chunked, collect, withTmp } from './util.js';

const sha = (b: Buffer, alg = 'sha256') => createHash(alg).update(b).digest('hex');

function withTmpSync<T>(f: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'whiteout-threads-'));
  try {
    return f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('hashing on the shared thread', () => {
  it('never keeps the process alive: a hash started and dropped, or failed before it waited, lets node exit', () => {
    const digest = join(REPO, 'dist/tar/digest.js');
    const script = `
      const { ThreadedHash, digestPassThrough } = await import(${JSON.stringify(digest)});
      new ThreadedHash().abort();
      const d = digestPassThrough((async function* () { throw new Error('boom'); })(), { worker: true });
      try { for await (const _ of d.stream); } catch (e) { console.log(e.message); }`;
    // Run as a file: node -e exits at the end of its script whatever is still referenced.
    const r = withTmpSync((dir) => {
      const file = join(dir, 'drop-hash.mjs');
      writeFileSync(file, script);
      // A hang is killed by the timeout and fails the test (spawnSync reports the signal).
      return spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 15_000 });
    });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('boom\n');
  });

  it('gives the in-line digest, whatever the chunk sizes (slots filled across chunks, chunks across slots)', async () => {
    const data = randomBytes((9 << 20) + 12345);
    for (const size of [1, 4093, 65536, 3 << 20, data.length]) {
      const src = size === 1 ? chunked(data.subarray(0, 100000), 1) : chunked(data, size);
      const expected = size === 1 ? data.subarray(0, 100000) : data;
      const d = digestPassThrough(src, { worker: true });
      expect((await collect(d.stream)).equals(expected)).toBe(true);
      expect(d.result()).toEqual({ digest: `sha256:${sha(expected)}`, size: expected.length });
    }
  });

  it('hashes several streams at once, with other algorithms', async () => {
    const a = randomBytes(3 << 20);
    const b = randomBytes(5 << 20);
    const ha = new ThreadedHash('sha512');
    const hb = new ThreadedHash();
    for (let i = 0; i < 5 << 20; i += 1 << 19) {
      if (i < a.length) await ha.update(a.subarray(i, i + (1 << 19)));
      await hb.update(b.subarray(i, i + (1 << 19)));
    }
    expect(await hb.digest()).toBe(sha(b));
    expect(await ha.digest()).toBe(sha(a, 'sha512'));
  });

  it('streams that reuse a finished stream\'s ring get their own digests, one after another and overlapping', async () => {
    // More streams than the pool keeps, each started while an earlier one is still hashing:
    // a ring handed out again before the thread was done with it would mix their bytes.
    const datas = Array.from({ length: 7 }, (_, i) => randomBytes((7 << 20) + i * 4099));
    let prev: { h: ThreadedHash; d: Buffer } | undefined;
    const answers: [string, string][] = [];
    for (const d of datas) {
      const h = new ThreadedHash();
      for (let off = 0; off < d.length; off += 3 << 19) await h.update(d.subarray(off, off + (3 << 19)));
      if (prev) answers.push([await prev.h.digest(), sha(prev.d)]);
      prev = { h, d };
    }
    answers.push([await prev!.h.digest(), sha(prev!.d)]);
    for (const [got, want] of answers) expect(got).toBe(want);
  });

  it('an abandoned stream leaves no digest and does not block the next', async () => {
    const data = randomBytes(8 << 20);
    const d = digestPassThrough(chunked(data, 1 << 20), { worker: true });
    for await (const _ of d.stream) break;
    expect(() => d.result()).toThrow(/before the stream was read to the end/);
    const again = digestPassThrough(chunked(data), { worker: true });
    await collect(again.stream);
    expect(again.result().digest).toBe(`sha256:${sha(data)}`);
  });
});

describe('readSource read-ahead', () => {
  it('reads a file of any size exactly, in order (ahead on the threadpool, or in line)', async () => {
    await withTmp(async (dir) => {
      for (const n of [0, 1, (1 << 20) - 1, 1 << 20, (5 << 20) + 7]) {
        const data = randomBytes(n);
        const f = join(dir, `f${n}`);
        writeFileSync(f, data);
        expect((await collect(readSource(f))).equals(data)).toBe(true);
        expect((await collect(readSource(f, { inLine: true }))).equals(data), `in line, ${n}`).toBe(true);
      }
    });
  });

  it('in line with reuse, a consumer done with each chunk gets every byte from two buffers', async () => {
    await withTmp(async (dir) => {
      const data = randomBytes((13 << 20) + 5);
      const f = join(dir, 'inline');
      writeFileSync(f, data);
      const parts: Buffer[] = [];
      const backings = new Set<ArrayBufferLike>();
      for await (const c of readSource(f, { reuse: true, inLine: true })) {
        parts.push(Buffer.from(c));
        backings.add(c.buffer);
      }
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      expect(backings.size).toBeLessThanOrEqual(2);
    });
  });

  it('with reuse, reads into the same few buffers again: a consumer that copies each chunk before the next gets every byte', async () => {
    await withTmp(async (dir) => {
      for (const n of [0, 3, 1 << 20, (13 << 20) + 5]) {
        const data = randomBytes(n);
        const f = join(dir, `r${n}`);
        writeFileSync(f, data);
        const parts: Buffer[] = [];
        const backings = new Set<ArrayBufferLike>();
        for await (const c of readSource(f, { reuse: true })) {
          parts.push(Buffer.from(c));
          backings.add(c.buffer);
        }
        expect(Buffer.concat(parts).equals(data)).toBe(true);
        // Four reads ahead and the one in hand.
        expect(backings.size).toBeLessThanOrEqual(5);
        if (n > 8 << 20) {
          const fresh = new Set<ArrayBufferLike>();
          for await (const c of readSource(f)) fresh.add(c.buffer);
          expect(fresh.size).toBeGreaterThan(10);
        }
      }
    });
  });

  it('reads a range of a file (an archive member), ahead and into reused buffers when asked; a file cut short under it is an error', async () => {
    await withTmp(async (dir) => {
      const data = randomBytes((7 << 20) + 333);
      const f = join(dir, 'archive');
      writeFileSync(f, data);
      const fd = openSync(f, 'r');
      try {
        for (const [start, length] of [[0, data.length], [512, 0], [512, 1], [1000, (1 << 20) - 1], [1000, (5 << 20) + 17], [data.length - 10, 10]] as const) {
          for (const reuse of [false, true]) {
            const parts: Buffer[] = [];
            const backings = new Set<ArrayBufferLike>();
            for await (const c of readFileRange(fd, start, length, 'archive', { reuse })) {
              parts.push(Buffer.from(c));
              backings.add(c.buffer);
            }
            expect(Buffer.concat(parts).equals(data.subarray(start, start + length))).toBe(true);
            if (reuse) expect(backings.size).toBeLessThanOrEqual(6);
          }
        }
        truncateSync(f, 3 << 20);
        await expect(collect(readFileRange(fd, 1 << 20, 4 << 20, 'archive'))).rejects.toThrow(/archive: unexpected end of file/);
      } finally {
        closeSync(fd);
      }
    });
  });

  it('stopping early closes the file without an unhandled error', async () => {
    await withTmp(async (dir) => {
      const f = join(dir, 'big');
      writeFileSync(f, randomBytes(6 << 20));
      for await (const _ of readSource(f)) break;
    });
  });
});
