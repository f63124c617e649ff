import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../src/fs/atomic.js';
import { pooledBuffer, whenFree } from '../src/fs/lease.js';
import { WRITE_BEHIND_MIN, WriteBehind, writeBody } from '../src/fs/write-behind.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wb-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** `total` bytes in chunks of `size`, each byte telling its offset (mod 251), so misplaced bytes show. */
async function* pattern(total: number, size: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < total; off += size) {
    const n = Math.min(size, total - off);
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = (off + i) % 251;
    yield b;
  }
}

function expected(total: number): Buffer {
  const b = Buffer.allocUnsafe(total);
  for (let i = 0; i < total; i++) b[i] = i % 251;
  return b;
}

describe('write-behind (src/fs/write-behind.ts)', () => {
  it('writes big bodies behind, each byte at its offset, and finishes a file only after its data', async () => {
    const behind = new WriteBehind();
    const sizes = [WRITE_BEHIND_MIN, 3 * WRITE_BEHIND_MIN + 17, 40 << 20];
    // Files finish in whatever order their writes complete, so each records its own size.
    const finishedAfter: number[] = [];
    for (const [i, total] of sizes.entries()) {
      const file = path.join(dir, `f${i}`);
      const fd = fs.openSync(file, 'wx', 0o640);
      const n = await writeBody(behind, fd, total, pattern(total, 100_003), () => {
        // The data is all there when finish runs: it sets the times, which a later write would change.
        finishedAfter[i] = fs.fstatSync(fd).size;
        fs.futimesSync(fd, 1_000_000, 1_000_000);
        fs.closeSync(fd);
      });
      expect(n).toBe(total);
    }
    await behind.drain();
    expect(finishedAfter).toEqual(sizes);
    for (const [i, total] of sizes.entries()) {
      const file = path.join(dir, `f${i}`);
      expect(fs.readFileSync(file).equals(expected(total))).toBe(true);
      expect(fs.statSync(file).mtimeMs).toBe(1_000_000_000);
    }
  });

  it('copy mode: chunks their source refills as soon as the next is asked for still land as they were', async () => {
    // One buffer, refilled for every chunk: what a reused read buffer does (src/io.ts ReadSourceOptions.reuse).
    const total = 9 * (1 << 20) + 12_345;
    const shared = Buffer.allocUnsafe(1 << 20);
    async function* refilled(): AsyncGenerator<Buffer> {
      for (let off = 0; off < total; off += shared.length) {
        const n = Math.min(shared.length, total - off);
        for (let i = 0; i < n; i++) shared[i] = (off + i) % 251;
        yield shared.subarray(0, n);
      }
    }
    const write = async (copy: boolean, name: string): Promise<Buffer> => {
      const behind = new WriteBehind(copy);
      const fd = fs.openSync(path.join(dir, name), 'wx');
      // Keep the threadpool busy, so every write is still queued when its buffer is refilled.
      const busy = Array.from({ length: 16 }, () => new Promise((r) => crypto.pbkdf2('x', 'y', 100_000, 32, 'sha256', r)));
      await writeBody(behind, fd, total, refilled(), () => fs.closeSync(fd));
      await Promise.all(busy);
      await behind.drain();
      return fs.readFileSync(path.join(dir, name));
    };
    expect((await write(true, 'copied')).equals(expected(total))).toBe(true);
    // Without the copy, writes still queued read the buffer after it was refilled.
    expect((await write(false, 'views')).equals(expected(total))).toBe(false);
  });

  it('writes a small body in line: finished before writeBody returns', async () => {
    const behind = new WriteBehind();
    const fd = fs.openSync(path.join(dir, 'small'), 'wx');
    let finished = false;
    await writeBody(behind, fd, 1000, pattern(1000, 300), () => {
      finished = true;
      fs.closeSync(fd);
    });
    expect(finished).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'small')).equals(expected(1000))).toBe(true);
  });

  it('reports a failed write at drain, naming it through the wrapper, and closes the file', async () => {
    const behind = new WriteBehind();
    // A descriptor opened read-only: every write fails with EBADF.
    fs.writeFileSync(path.join(dir, 'ro'), '');
    const fd = fs.openSync(path.join(dir, 'ro'), 'r');
    let finished = false;
    await writeBody(
      behind,
      fd,
      WRITE_BEHIND_MIN * 2,
      pattern(WRITE_BEHIND_MIN * 2, 65536),
      () => {
        finished = true;
      },
      (e) => new Error(`ro: ${(e as NodeJS.ErrnoException).code}`),
    );
    await expect(behind.drain()).rejects.toThrow('ro: EBADF');
    // The finish step never ran on a file whose data failed, but the descriptor was closed.
    expect(finished).toBe(false);
    expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
  });

  it('closes the file and rethrows when the body fails part way', async () => {
    const behind = new WriteBehind();
    const fd = fs.openSync(path.join(dir, 'broken'), 'wx');
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(WRITE_BEHIND_MIN, 1);
      throw new Error('truncated layer');
    }
    await expect(writeBody(behind, fd, WRITE_BEHIND_MIN * 4, failing(), () => {})).rejects.toThrow('truncated layer');
    await behind.drain();
    expect(() => fs.fstatSync(fd)).toThrow(/EBADF/);
  });
});

describe('writeFileAtomic with behind: true writes behind its producer (src/fs/atomic.ts)', () => {
  /**
   * One buffer filled again for every chunk, once the next is asked for: what pack and flatten's tar
   * writer do. A pooled buffer is refilled only when its leases are given up (src/fs/lease.ts), as theirs are.
   */
  async function* refilled(total: number, into: Buffer): AsyncGenerator<Buffer> {
    for (let off = 0; off < total; off += into.length) {
      await new Promise<void>((r) => whenFree(into, r));
      const n = Math.min(into.length, total - off);
      for (let i = 0; i < n; i++) into[i] = (off + i) % 251;
      yield into.subarray(0, n);
    }
  }

  it('lands every byte from a refilled plain buffer (copied) and from a refilled pooled one (leased)', async () => {
    const total = 40 * (1 << 20) + 12345;
    // Keep the threadpool busy so the writes are still queued when the buffer is refilled.
    const busy = Array.from({ length: 8 }, () => new Promise((r) => crypto.pbkdf2('x', 's', 200_000, 32, 'sha256', r)));
    for (const [name, buf] of [
      ['plain', Buffer.allocUnsafe(1 << 20)],
      ['pooled', pooledBuffer(1 << 20)],
    ] as const) {
      const target = path.join(dir, `${name}.bin`);
      await writeFileAtomic(target, false, refilled(total, buf), 0o644, { behind: true });
      expect(fs.readFileSync(target).equals(expected(total)), name).toBe(true);
    }
    await Promise.all(busy);
  });

  it('a failing producer: the error, no file, no temp file, the writes ended first', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield* pattern(3 << 20, 1 << 20);
      throw new Error('producer broke');
    }
    for (const behind of [true, false]) {
      await expect(writeFileAtomic(path.join(dir, 'out.bin'), false, failing(), 0o644, { behind })).rejects.toThrow('producer broke');
      expect(fs.readdirSync(dir)).toEqual([]);
    }
  });
});
