/**
 * Write-behind for big file bodies: the bytes go to the file on libuv's
 * threadpool while the main thread parses and creates the next entries.
 *
 * Why: copying a layer's bytes into the page cache (write(2)) was a quarter of
 * unpack's main-thread time (SPEC.md §10), and it is the one part of
 * extraction that needs no ordering with the entries after it. The file itself
 * is created in line (so later entries see it: hardlinks, duplicates, lstat);
 * only its data, and then its owner, mode, times and close, which must follow
 * the data, happen later. Each write names its offset (pwrite), so the writes
 * of one file may run at once on different threads.
 *
 * Small files stay synchronous: a threadpool hand-off costs about what
 * copying 64 KiB does (src/fs/new-file.ts).
 */
import fs from 'node:fs';
import { takeWhole } from '../tar/types.js';
import { lease } from './lease.js';
import { writeAll } from './new-file.js';

/** Files of this size and more are written behind. */
export const WRITE_BEHIND_MIN = 256 << 10;
/**
 * Bytes handed to the threadpool and not yet written: bounds the chunks kept
 * alive. 16 MiB: with unpack's reads in line (src/io.ts ReadSourceOptions.inLine)
 * 32 MiB measured no faster and held 24 MB more; flatten the same with either.
 */
const MAX_BYTES = 16 << 20;
const MAX_WRITES = 24;

interface OpenFile {
  pending: number;
  /** Turns a failed write into the error to report (names the entry). */
  wrap: (e: unknown) => unknown;
  /** Runs once every write of the file is done (set by `end`). */
  finish?: () => void;
  failed: boolean;
}

/** Copies of volatile chunks are made into buffers of this size, kept for reuse. */
const COPY_BUF = 1 << 20;

export class WriteBehind {
  /**
   * `copy`: the chunks handed in are refilled by their source once the next is
   * asked for (src/io.ts ReadSourceOptions.reuse), so each is copied into a
   * buffer of this writer's own, which is used again once its write is done.
   */
  constructor(
    private readonly copy = false,
    private readonly limits: { bytes: number; writes: number } = { bytes: MAX_BYTES, writes: MAX_WRITES },
  ) {}

  private readonly spare: Buffer[] = [];
  private bytes = 0;
  private writes = 0;
  private error: unknown;
  private readonly files = new Map<number, OpenFile>();
  /** Resolved when a write completes: the writer waits on it for room or for the end. */
  private wake: (() => void) | undefined;

  /** Start a file written behind. */
  open(fd: number, wrap: (e: unknown) => unknown = (e) => e): void {
    this.files.set(fd, { pending: 0, failed: false, wrap });
  }

  /**
   * Queue `data` for offset `pos` of `fd`. Returns a promise only when too much
   * is in flight; the caller awaits it before queueing more.
   */
  write(fd: number, data: Buffer, pos: number): Promise<void> | undefined {
    this.rethrow();
    const f = this.files.get(fd);
    if (!f) throw new Error('write-behind: write to a file not opened here');
    // A chunk of a pooled read buffer is leased until written (src/fs/lease.ts); any other volatile one copied.
    const release = this.copy ? lease(data) : undefined;
    if (this.copy && !release) {
      const own = data.length <= COPY_BUF ? (this.spare.pop() ?? Buffer.allocUnsafe(COPY_BUF)) : Buffer.allocUnsafe(data.length);
      data.copy(own);
      this.issue(fd, f, own.subarray(0, data.length), pos, () => {
        if (own.length === COPY_BUF) this.spare.push(own);
      });
    } else {
      this.issue(fd, f, data, pos, release);
    }
    return this.full() ? this.room() : undefined;
  }

  /** No more data for `fd`: run `finish` (owner, mode, times, close) once its writes are done. */
  end(fd: number, finish: () => void): void {
    const f = this.files.get(fd);
    if (!f) throw new Error('write-behind: end of a file not opened here');
    f.finish = finish;
    if (f.pending === 0) this.settle(fd, f);
  }

  /** Wait for every queued write and finish; the first failure is thrown. */
  async drain(): Promise<void> {
    while (this.writes > 0 || this.files.size > 0) {
      // A file opened but never ended (its body failed): nothing more will come for it.
      if (this.writes === 0) {
        for (const [fd, f] of this.files) if (!f.finish) this.closeQuietly(fd);
        break;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    this.rethrow();
  }

  private rethrow(): void {
    if (this.error !== undefined) {
      const e = this.error;
      this.error = undefined;
      throw e;
    }
  }

  private full(): boolean {
    return this.bytes > this.limits.bytes || this.writes > this.limits.writes;
  }

  private room(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = () => {
        if (this.full()) return;
        this.wake = undefined;
        resolve();
      };
    }).then(() => this.rethrow());
  }

  /** `written` runs once all of `data` is written, or failed: its buffer may then be used again. */
  private issue(fd: number, f: OpenFile, data: Buffer, pos: number, written?: () => void): void {
    f.pending++;
    this.writes++;
    this.bytes += data.length;
    fs.write(fd, data, 0, data.length, pos, (err, n) => {
      this.writes--;
      this.bytes -= data.length;
      f.pending--;
      if (err) {
        f.failed = true;
        this.error ??= f.wrap(err);
      } else if (n < data.length) {
        // A short write: the rest goes out as a write of its own.
        this.issue(fd, f, data.subarray(n), pos + n, written);
        written = undefined;
      }
      written?.();
      if (f.pending === 0 && f.finish) this.settle(fd, f);
      this.wake?.();
    });
  }

  private settle(fd: number, f: OpenFile): void {
    this.files.delete(fd);
    if (f.failed) {
      this.closeQuietly(fd);
      return;
    }
    try {
      f.finish!();
    } catch (e) {
      this.error ??= e;
    }
  }

  private closeQuietly(fd: number): void {
    this.files.delete(fd);
    try {
      fs.closeSync(fd);
    } catch {
      // Already failing: the first error is the one to report.
    }
  }
}

/**
 * Write a new file's body, then `finish` it (owner, mode, times, close): in
 * line for a small file, behind for a big one. On a failing body the file is
 * closed and the error thrown. Returns the bytes written.
 */
export async function writeBody(
  behind: WriteBehind,
  fd: number,
  size: number,
  body: AsyncIterable<Buffer>,
  finish: () => void,
  wrap?: (e: unknown) => unknown,
): Promise<number> {
  let pos = 0;
  if (size < WRITE_BEHIND_MIN) {
    const whole = takeWhole(body);
    if (whole) return writeWhole(fd, whole, finish);
    let ok = false;
    try {
      for await (const chunk of body) {
        writeAll(fd, chunk);
        pos += chunk.length;
      }
      ok = true;
    } finally {
      if (!ok) fs.closeSync(fd);
    }
    finish();
    return pos;
  }
  return writeAllBehind(behind, fd, body, finish, wrap);
}

/**
 * Queue all of `body` for `fd` from its start, then `finish` the file once it
 * is written (see `end`). On a failing body the file is closed once its queued
 * writes are done, and the error thrown. Returns the bytes queued.
 */
export async function writeAllBehind(
  behind: WriteBehind,
  fd: number,
  body: AsyncIterable<Buffer>,
  finish: () => void,
  wrap?: (e: unknown) => unknown,
): Promise<number> {
  let pos = 0;
  behind.open(fd, wrap);
  try {
    for await (const chunk of body) {
      const wait = behind.write(fd, chunk, pos);
      pos += chunk.length;
      if (wait) await wait;
    }
  } catch (e) {
    behind.end(fd, () => fs.closeSync(fd));
    throw e;
  }
  behind.end(fd, finish);
  return pos;
}

/** Write a body already in hand, in line, then `finish` the file; on a failed write it is closed. */
export function writeWhole(fd: number, whole: Buffer, finish: () => void): number {
  try {
    writeAll(fd, whole);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
  finish();
  return whole.length;
}
