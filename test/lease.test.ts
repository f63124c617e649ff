/**
 * Leases on pooled read buffers (src/fs/lease.ts): the hashing thread and the
 * write-behind hold a chunk of a reused read buffer instead of copying it, and
 * the reader refills the buffer only once every lease is given up.
 */
import { createHash, pbkdf2, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lease, pooledBuffer, whenFree } from '../src/fs/lease.js';
import { WriteBehind, writeBody } from '../src/fs/write-behind.js';
import { readSource } from '../src/io.js';
import { ThreadedHash } from '../src/tar/digest.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-lease-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const busy = () => Promise.all(Array.from({ length: 16 }, () => new Promise((r) => pbkdf2('x', 'y', 60_000, 32, 'sha256', r))));

describe('leases', () => {
  it('a pooled buffer goes back at once with no lease out, after the last one otherwise; others cannot be leased', () => {
    const b = pooledBuffer(1024);
    let back = 0;
    whenFree(b, () => back++);
    expect(back).toBe(1);
    const one = lease(b.subarray(10, 20))!;
    const two = lease(b.subarray(500))!;
    whenFree(b, () => back++);
    one();
    one(); // giving a lease up twice counts once
    expect(back).toBe(1);
    two();
    expect(back).toBe(2);
    expect(lease(Buffer.alloc(1024))).toBeUndefined();
    expect(lease(Buffer.allocUnsafe(1 << 20))).toBeUndefined();
  });

  it.each([false, true])('readSource with reuse (inLine: %s) never refills a leased chunk: held to the end, it still has its bytes', async (inLine) => {
    const data = randomBytes((13 << 20) + 77);
    const f = path.join(dir, 'src');
    fs.writeFileSync(f, data);
    const held: { chunk: Buffer; at: number; release: () => void }[] = [];
    let at = 0;
    const backings = new Set<ArrayBufferLike>();
    for await (const c of readSource(f, { reuse: true, inLine })) {
      backings.add(c.buffer);
      // Every third chunk is kept past the next reads, as a queued write or hash would keep it.
      const release = lease(c);
      expect(release).toBeDefined();
      if (held.length % 3 === 0) held.push({ chunk: c, at, release: release! });
      else release!();
      at += c.length;
    }
    for (const h of held) expect(h.chunk.equals(data.subarray(h.at, h.at + h.chunk.length))).toBe(true);
    for (const h of held) h.release();
    // Leased buffers are not refilled, so the pool grew past its five (in line: past the one
    // being read into); unleased ones were reused.
    if (inLine) expect(backings.size).toBe(2);
    else expect(backings.size).toBeGreaterThan(5);
    expect(backings.size).toBeLessThan(14);
  });

  it('the hashing thread reads leased chunks in place, in order with copied ones, and gives each lease up once hashed', async () => {
    const data = randomBytes(9 << 20);
    const h = new ThreadedHash();
    const buffers = [pooledBuffer(1 << 20), pooledBuffer(1 << 20)];
    let heldByThread = 0;
    let off = 0;
    for (let i = 0; off < data.length; i++) {
      // Pooled 1 MiB chunks, a small copied piece, pooled again: the thread must keep the order.
      const n = i % 3 === 1 ? 1000 : Math.min(1 << 20, data.length - off);
      const piece = data.subarray(off, off + n);
      if (n === 1000) await h.update(Buffer.from(piece));
      else {
        const b = buffers[i % 2]!;
        // The pool refills a buffer only when it is free: wait for the thread's answer first.
        await new Promise<void>((r) => whenFree(b, r));
        piece.copy(b);
        await h.update(b.subarray(0, n));
        // Not copied: the buffer stays leased until the thread answers (a copy would free it at once).
        let free = false;
        whenFree(b, () => (free = true));
        if (!free) heldByThread++;
      }
      off += n;
    }
    expect(await h.digest()).toBe(createHash('sha256').update(data).digest('hex'));
    expect(heldByThread).toBeGreaterThan(0);
  });

  it('the write-behind leases a pooled chunk instead of copying it, and gives it up once written', async () => {
    const total = (5 << 20) + 123;
    const data = randomBytes(total);
    const pool = [pooledBuffer(1 << 20), pooledBuffer(1 << 20), pooledBuffer(1 << 20)];
    let heldByWrites = 0;
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let i = 0, off = 0; off < total; i++, off += 1 << 20) {
        const b = pool[i % pool.length]!;
        // Refilled only when free, as readSource does: a queued write holds its buffer back.
        await new Promise<void>((r) => whenFree(b, r));
        const n = data.copy(b, 0, off, Math.min(off + (1 << 20), total));
        yield b.subarray(0, n);
        // With the threadpool busy, the chunk's write is still queued: its lease holds the buffer.
        let free = false;
        whenFree(b, () => (free = true));
        if (!free) heldByWrites++;
      }
    }
    const behind = new WriteBehind(true);
    const fd = fs.openSync(path.join(dir, 'behind'), 'wx');
    const pending = busy();
    await writeBody(behind, fd, total, chunks(), () => fs.closeSync(fd));
    await pending;
    await behind.drain();
    expect(fs.readFileSync(path.join(dir, 'behind')).equals(data)).toBe(true);
    expect(heldByWrites).toBeGreaterThan(0);
  });
});
