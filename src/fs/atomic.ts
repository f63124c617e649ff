/**
 * Output that never looks complete before it is: work happens in a sibling
 * temp path that is renamed into place at the end, and temp paths are removed
 * on failure and on SIGINT/SIGTERM (SPEC.md §Atomic output).
 */
import fs from 'node:fs';
import path from 'node:path';
import { WhiteoutError, hasCode } from '../errors.js';
import { writeAll } from './new-file.js';
import { WriteBehind, writeAllBehind } from './write-behind.js';

const pending = new Set<string>();

/** Remove every temp path still in progress (called from signal handlers). */
export function cleanupPendingSync(): void {
  for (const p of pending) {
    try {
      fs.rmSync(p, { recursive: true, force: true });
    } catch {
      // Best effort: we are exiting.
    }
  }
  pending.clear();
}

async function isEmptyDir(p: string): Promise<boolean> {
  const names = await fs.promises.readdir(p);
  return names.length === 0;
}

export interface AtomicDirWork {
  /** Where to build the output; renamed to the target at the end. */
  root: string;
  /** Scratch space on the same file system, removed at the end. */
  work: string;
}

/**
 * Build a directory at `target` atomically. An existing empty directory is
 * replaced; a non-empty one only with `force`.
 */
export async function withAtomicDir<T>(target: string, force: boolean, fn: (w: AtomicDirWork) => Promise<T>): Promise<T> {
  const abs = path.resolve(target);
  const parent = path.dirname(abs);
  let existing: fs.Stats | undefined;
  try {
    existing = await fs.promises.lstat(abs);
  } catch (e) {
    if (!hasCode(e, 'ENOENT')) throw e;
  }
  if (existing) {
    if (!existing.isDirectory()) {
      if (!force) throw new WhiteoutError(target, 'exists and is not a directory (use --force to replace it)', 'exists');
    } else if (!force && !(await isEmptyDir(abs))) {
      throw new WhiteoutError(target, 'exists and is not empty (use --force to replace it)', 'exists');
    }
  }
  let container: string;
  try {
    container = await fs.promises.mkdtemp(path.join(parent, `.${path.basename(abs)}.whiteout-`));
  } catch (e) {
    if (hasCode(e, 'ENOENT')) throw new WhiteoutError(target, `parent directory ${parent} does not exist`, 'io');
    throw e;
  }
  pending.add(container);
  try {
    const w: AtomicDirWork = { root: path.join(container, 'root'), work: path.join(container, 'work') };
    await fs.promises.mkdir(w.root, 0o700);
    await fs.promises.mkdir(w.work, 0o700);
    const result = await fn(w);
    if (existing && (force || !existing.isDirectory())) {
      // Move the old output aside first so the swap never leaves the target missing for long.
      const trash = path.join(container, 'old');
      await fs.promises.rename(abs, trash);
    }
    await fs.promises.rename(w.root, abs);
    return result;
  } finally {
    await fs.promises.rm(container, { recursive: true, force: true });
    pending.delete(container);
  }
}

export interface WriteFileOptions {
  /**
   * Write behind the producer, on the threadpool, instead of each chunk
   * before asking for the next (GNU tar's way): for a producer that is the
   * main thread's only work, as pack's walk is (SPEC.md §10). flatten and
   * convert measured no faster this way, and 5–10 MB bigger.
   */
  behind?: boolean;
}

/**
 * Write a file at `target` atomically from a byte stream. `mode` is the new
 * file's permission (before the umask): recover writes 0600, since what it
 * writes may be a secret.
 */
export async function writeFileAtomic(target: string, force: boolean, data: AsyncIterable<Buffer>, mode = 0o644, opts: WriteFileOptions = {}): Promise<void> {
  const abs = path.resolve(target);
  if (!force) {
    try {
      await fs.promises.lstat(abs);
      throw new WhiteoutError(target, 'exists (use --force to replace it)', 'exists');
    } catch (e) {
      if (!hasCode(e, 'ENOENT')) throw e;
    }
  }
  const tmp = path.join(path.dirname(abs), `.${path.basename(abs)}.whiteout-${process.pid}-${Date.now()}.tmp`);
  pending.add(tmp);
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    await (opts.behind ? writeBehind(fd, data) : writeInLine(fd, data));
    await fs.promises.rename(tmp, abs);
  } finally {
    await fs.promises.rm(tmp, { force: true });
    pending.delete(tmp);
  }
}

/**
 * How far the writes of a file may run behind its producer: 8 MiB (eight
 * 1 MiB batches). pack -q measured the same with 32 MiB, which held 25 MB more.
 */
const OUTPUT_AHEAD = { bytes: 8 << 20, writes: 8 };

/**
 * Write `data` to a new file and close it. The writes go out on the
 * threadpool, up to 8 MiB ahead, while the producer makes the next chunks:
 * pack's walk produces on the main thread, and writing 1.1 GB in line (GNU
 * tar's way) was ~40% of that thread (SPEC.md §10). A chunk of a
 * pooled buffer is leased until written, any other is copied, so a producer
 * may still fill a chunk again once it is asked for the next. The descriptor
 * is closed only after every write has ended, also on failure.
 */
async function writeBehind(fd: number, data: AsyncIterable<Buffer>): Promise<void> {
  const behind = new WriteBehind(true, OUTPUT_AHEAD);
  let failure: { e: unknown } | undefined;
  try {
    await writeAllBehind(behind, fd, data, () => fs.closeSync(fd));
  } catch (e) {
    failure = { e };
  }
  try {
    await behind.drain();
  } catch (e) {
    failure ??= { e };
  }
  if (failure) throw failure.e;
}

async function writeInLine(fd: number, data: AsyncIterable<Buffer>): Promise<void> {
  try {
    for await (const chunk of data) writeAll(fd, chunk);
  } finally {
    fs.closeSync(fd);
  }
}

/** Register a temp path made elsewhere so signals clean it up too. */
export function trackTemp(p: string): () => void {
  pending.add(p);
  return () => pending.delete(p);
}
