/**
 * zstd decoded on a worker thread (src/tar/zstd-thread.ts) gives the bytes,
 * the errors and the offsets of the in-line decoder, whatever the input's
 * chunking, with its output slots given back only when the consumer (and any
 * lease on a slot) is done with them.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compress as zstdCompress } from 'zstd-napi';
import { WhiteoutError } from '../../src/errors.js';
import { lease } from '../../src/fs/lease.js';
import { decompress } from '../../src/tar/compress.js';
import { snapshotDir } from '../../src/conformance/snapshot.js';
import { REPO, runCli } from '../helpers/hostile-cli.js';
import { collect, file, rejection, run, withTmp, writeAll } from './util.js';

/** Bytes that compress some (a repeated phrase with random runs), `n` long. */
function mixed(n: number, seed: number): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const run = 1 + (x % 4000);
    if (x & 0x10000) out.fill(`block ${x % 97} `, i, Math.min(n, i + run));
    else randomBytes(Math.min(run, n - i)).copy(out, i);
    i += run;
  }
  return out;
}

/** The input in chunks of the given sizes, cycled; each chunk a fresh buffer. */
async function* pieces(buf: Buffer, sizes: number[]): AsyncGenerator<Buffer> {
  let k = 0;
  for (let off = 0; off < buf.length; k++) {
    const n = Math.max(1, sizes[k % sizes.length]!);
    yield Buffer.from(buf.subarray(off, off + n));
    off += n;
  }
}

/** The input in chunks of one reused buffer, refilled when the next is asked for (a volatile source). */
async function* refilled(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  const b = Buffer.alloc(size);
  for (let off = 0; off < buf.length; off += size) {
    const n = buf.copy(b, 0, off, off + size);
    yield b.subarray(0, n);
    b.fill(0xee);
  }
}

const onThread = (src: AsyncIterable<Buffer>, volatile: boolean) => decompress(src, { name: 'layer.zst', thread: true, volatile });

/** Everything a volatile consumer sees, copied before it asks for the next chunk. */
async function collectVolatile(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('zstd on a worker thread', () => {
  const plain = mixed(5 << 20, 7);
  // Two frames, as concatenated zstd streams are one stream.
  const zst = Buffer.concat([zstdCompress(plain.subarray(0, 3 << 20)), zstdCompress(plain.subarray(3 << 20))]);

  it('gives the same bytes as in line, volatile or not, from a volatile source', async () => {
    const inLine = await collect(decompress(pieces(zst, [65536]), { name: 'layer.zst' }));
    expect(inLine.equals(plain)).toBe(true);
    expect((await collect(onThread(refilled(zst, 300_000), false))).equals(plain)).toBe(true);
    expect((await collectVolatile(onThread(refilled(zst, 3 << 20), true))).equals(plain)).toBe(true);
  });

  it('whatever the chunking of its input', async () => {
    const small = mixed(1 << 20, 3);
    const z = zstdCompress(small);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 1 << 21 })), { minLength: 1, maxLength: 6 }), fc.boolean(), async (sizes, volatile) => {
        const out = volatile ? await collectVolatile(onThread(pieces(z, sizes), true)) : await collect(onThread(pieces(z, sizes), false));
        expect(out.equals(small)).toBe(true);
      }),
      { numRuns: 25 },
    );
  });

  it('says where a truncated or corrupt stream went wrong, as in line', async () => {
    for (const cut of [zst.length >> 1, zst.length - 3]) {
      const bad = zst.subarray(0, cut);
      const e = await rejection(collect(onThread(pieces(bad, [100_000]), false)));
      const f = await rejection(collect(decompress(pieces(bad, [100_000]), { name: 'layer.zst' })));
      expect(e).toBeInstanceOf(WhiteoutError);
      expect((e as WhiteoutError).code).toBe('input');
      expect((e as WhiteoutError).message).toBe((f as WhiteoutError).message);
      expect((e as WhiteoutError).message).toMatch(/^layer\.zst: truncated zstd data: unexpected end at compressed offset \d+$/);
    }
    // zstd(1) writes a checksum, so a flip in a stored (incompressible) block is caught too.
    const flipped = run('zstd', ['-c', '-q'], { input: plain });
    for (let i = 0; i < 64; i++) flipped[(flipped.length >> 2) + i] ^= 0x5a;
    const e = await rejection(collect(onThread(pieces(flipped, [65536]), false)));
    const f = await rejection(collect(decompress(pieces(flipped, [65536]), { name: 'layer.zst' })));
    expect(e).toBeInstanceOf(WhiteoutError);
    expect((e as WhiteoutError).message).toMatch(/^layer\.zst: corrupt zstd data at compressed offset \d+: /);
    expect((e as WhiteoutError).message).toBe((f as WhiteoutError).message);
  });

  it("lets the source's own error through", async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield zst.subarray(0, 200_000);
      throw new Error('disk on fire');
    }
    await expect(collect(onThread(failing(), false))).rejects.toThrow('disk on fire');
  });

  it('keeps a leased chunk until its lease is given up; the thread waits for it, then goes on', async () => {
    // More than the thread's 16 slots of 512 KiB, so it must come back to the leased one.
    const big = mixed(12 << 20, 11);
    const it = onThread(pieces(zstdCompress(big), [1 << 20]), true)[Symbol.asyncIterator]();
    const first = await it.next();
    const chunk = first.value as Buffer;
    const expected = Buffer.from(chunk);
    const release = lease(chunk);
    expect(release, 'the thread hands out pooled buffers').toBeDefined();
    const parts = [expected];
    for (let i = 0; i < 15; i++) parts.push(Buffer.from(((await it.next()).value as Buffer)));
    // Every other slot is now back with the thread; the next is the leased one's turn.
    let resolved = false;
    const next = it.next().then((r) => ((resolved = true), r));
    await new Promise((r) => setTimeout(r, 200));
    expect(resolved, 'the thread waited for the lease').toBe(false);
    expect(chunk.equals(expected), 'the leased chunk was not refilled').toBe(true);
    release!();
    parts.push(Buffer.from(((await next).value as Buffer)));
    for (let r = await it.next(); !r.done; r = await it.next()) parts.push(Buffer.from(r.value));
    expect(Buffer.concat(parts).equals(big)).toBe(true);
  });

  it('never keeps the process alive: a stream closed midway, dropped without closing, or failed, lets node exit', async () => {
    await withTmp(async (dir) => {
      const script = `
        const { decompress } = await import(${JSON.stringify(join(REPO, 'dist/tar/compress.js'))});
        const { compress } = (await import('node:module')).createRequire(${JSON.stringify(join(REPO, 'package.json'))})('zstd-napi');
        // More than the thread's 8 MiB of slots: it is left waiting for one.
        const z = compress(Buffer.alloc(32 << 20, 'x'));
        for await (const _ of decompress((async function* () { yield z; })(), { thread: true, volatile: true })) break;
        // Dropped without being closed: its thread is left waiting for a slot.
        await decompress((async function* () { yield z; })(), { thread: true })[Symbol.asyncIterator]().next();
        try { for await (const _ of decompress((async function* () { yield z.subarray(0, 100); })(), { thread: true })); } catch (e) { console.log(e.message); }`;
      const file = join(dir, 'drop-zstd.mjs');
      writeFileSync(file, script);
      // A hang is killed by the timeout and fails the test.
      const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 15_000, cwd: REPO });
      expect(r.signal, r.stderr).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/truncated zstd data/);
    });
  });

  it('unpack and flatten of a big zstd layer, decoded on the thread, give what the plain layer gives', { timeout: 60_000 }, async () => {
    await withTmp(async (dir) => {
      // 16 MiB compressed and more is decoded on the thread (worthAZstdThread): an incompressible 20 MiB file.
      const tar = await writeAll([file('etc/a', 'a\n'), file('big.bin', randomBytes(20 << 20)), file('etc/.wh.gone', ''), file('z', mixed(3 << 20, 5))]);
      writeFileSync(join(dir, 'l.tar'), tar);
      run('zstd', ['-q', join(dir, 'l.tar'), '-o', join(dir, 'l.tar.zst')]);
      expect(readFileSync(join(dir, 'l.tar.zst')).length).toBeGreaterThanOrEqual(16 << 20);
      for (const cmd of ['unpack', 'flatten']) {
        const outs: string[] = [];
        for (const input of ['l.tar', 'l.tar.zst']) {
          // Not named *.tar: flatten writes a tar file to such a name.
          const out = join(dir, `${cmd}-${outs.length}`);
          const r = await runCli([cmd, join(dir, input), '-o', out]);
          expect(r.code, r.stderr).toBe(0);
          outs.push(out);
        }
        // A whiteout device is made at unpack time (the tar gives it no mtime): mtimes are not the decoder's to keep.
        const ignore = { ignore: { mtime: true } };
        expect(await snapshotDir(outs[1]!, ignore), cmd).toEqual(await snapshotDir(outs[0]!, ignore));
      }
    });
  });
});
