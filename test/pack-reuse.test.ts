/**
 * pack's reuseChunks (src/ops/pack.ts, src/tar/write.ts WriteTarOptions.reuse):
 * an uncompressed layer comes as views of one reused batch buffer, for a reader
 * that is done with each chunk before it asks for the next (the hashing thread
 * leases a batch and hashes it in place); a compressed one never does, since
 * the compressor queues its input.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { packLayer } from '../src/ops/pack.js';
import { concat, tempDir } from './helpers/entries.js';

const t = tempDir('whiteout-pack-reuse-');
afterAll(() => t.cleanup());

// Several batches' worth (1 MiB each): big files and many small ones.
const dir = path.join(t.dir, 'upper');
fs.mkdirSync(path.join(dir, 'small'), { recursive: true });
for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(dir, `big${i}`), crypto.randomBytes(1_500_000 + i * 7919));
for (let i = 0; i < 300; i++) fs.writeFileSync(path.join(dir, 'small', `f${i}`), crypto.randomBytes(i * 37));

async function copying(s: AsyncIterable<Buffer>): Promise<{ bytes: Buffer; backings: number; chunks: number }> {
  const parts: Buffer[] = [];
  const backings = new Set<ArrayBufferLike>();
  for await (const c of s) {
    parts.push(Buffer.from(c));
    backings.add(c.buffer);
  }
  return { bytes: Buffer.concat(parts), backings: backings.size, chunks: parts.length };
}

describe('pack with reuseChunks', () => {
  it('gives the same bytes and diffID from one reused buffer', async () => {
    const plain = packLayer(dir);
    const want = await concat(plain.stream);
    const reused = packLayer(dir, { reuseChunks: true });
    const got = await copying(reused.stream);
    expect(got.bytes.equals(want)).toBe(true);
    expect(reused.result().diffID).toBe(plain.result().diffID);
    expect(got.chunks).toBeGreaterThan(4);
    expect(got.backings).toBeLessThan(got.chunks / 2);
  });

  it('with the hashing thread leasing each batch (hashed in place), the same bytes and diffID', async () => {
    const big = path.join(t.dir, 'bigger');
    fs.mkdirSync(big);
    for (let i = 0; i < 6; i++) fs.writeFileSync(path.join(big, `f${i}`), crypto.randomBytes(3_000_000 + i));
    const plain = packLayer(big);
    const want = await concat(plain.stream);
    const threaded = packLayer(big, { reuseChunks: true, hashInWorker: true });
    const got = await copying(threaded.stream);
    expect(got.bytes.equals(want)).toBe(true);
    expect(threaded.result().diffID).toBe(plain.result().diffID);
    // A batch the thread still holds is not refilled: a new one is filled meanwhile, up to the
    // thread's 8 leased batches and the one being filled; after that they come round again.
    expect(got.chunks).toBeGreaterThan(15);
    expect(got.backings).toBeLessThanOrEqual(10);
  });

  it('ignores it when compressing: chunks kept without copying are still right', async () => {
    const want = await concat(packLayer(dir).stream);
    const gz = packLayer(dir, { reuseChunks: true, compression: 'gzip' });
    const kept: Buffer[] = [];
    for await (const c of gz.stream) kept.push(c);
    expect(zlib.gunzipSync(Buffer.concat(kept)).equals(want)).toBe(true);
  });
});
