/** Byte sources and sinks for files and standard streams. */
import fs from 'node:fs';
import { WhiteoutError, hasCode } from './errors.js';
import { pooledBuffer, whenFree } from './fs/lease.js';

const CHUNK = 1 << 20;
/**
 * Reads kept in flight ahead of the consumer. With one read at a time, unpack
 * sat idle for a quarter of its run waiting for the next MiB (SPEC.md §10);
 * four MiB ahead is enough to hide the threadpool hand-off and bounds memory.
 */
const AHEAD = 4;

function readAt(fd: number, position: number | null, into?: Buffer, length = CHUNK): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A fresh buffer per read unless the caller reuses one: consumers keep views of chunks (bodies).
    const buf = into ?? Buffer.allocUnsafe(length);
    fs.read(fd, buf, 0, length, position, (err, n) => {
      if (err) reject(err);
      else resolve(n === buf.length ? buf : buf.subarray(0, n));
    });
  });
}

/**
 * Bytes [start, end) of a regular file (end: Infinity for "to its end") read
 * with positioned reads, AHEAD of them in flight. With `reuse`, a full chunk's
 * buffer is read into again once the consumer asks for the chunk after it
 * (ReadSourceOptions.reuse). `onShort(pos)` is told of a short read before
 * `end`: it throws, or returns to have the rest read one chunk at a time.
 */
async function* readAhead(fd: number, start: number, end: number, reuse: boolean, onShort: (pos: number) => void): AsyncGenerator<Buffer> {
  const inFlight: Promise<Buffer>[] = [];
  const free: Buffer[] = [];
  let next = start;
  const issue = () => {
    if (next >= end) return;
    // Reused buffers are pooled ones: a consumer may lease a chunk past the next read (src/fs/lease.ts).
    const p = readAt(fd, next, free.pop() ?? (reuse ? pooledBuffer(CHUNK) : undefined), Math.min(CHUNK, end - next));
    // A read the consumer never reaches (an error or an early return) must not become an unhandled rejection.
    p.catch(() => {});
    inFlight.push(p);
    next += CHUNK;
  };
  try {
    for (let i = 0; i < AHEAD; i++) issue();
    let pos = start;
    while (inFlight.length > 0) {
      const b = await inFlight.shift()!;
      pos += b.length;
      if (b.length < CHUNK && pos < end) {
        // The reads issued past `pos` read from a file of another size: drop them, go on serially.
        await Promise.allSettled(inFlight.splice(0));
        onShort(pos);
        if (b.length > 0) yield b;
        while (pos < end) {
          const c = await readAt(fd, pos, undefined, Math.min(CHUNK, end - pos));
          if (c.length === 0) return;
          pos += c.length;
          yield c;
        }
        return;
      }
      issue();
      yield b;
      // Asked for the next chunk: the consumer is done with this one, and so are its leases once given up.
      if (reuse && b.length === CHUNK) whenFree(b, () => free.push(b));
    }
  } finally {
    // The descriptor is closed after this: no read may still be using it.
    await Promise.allSettled(inFlight);
  }
}

/**
 * A regular file to its end. A short read means the file changed size under
 * us: the rest is read one chunk at a time, so no byte is skipped.
 */
function readFileAhead(fd: number, reuse: boolean): AsyncGenerator<Buffer> {
  return readAhead(fd, 0, Infinity, reuse, () => {});
}

/**
 * A regular file to its end, each 1 MiB read on the calling thread as the
 * consumer asks for it (ReadSourceOptions.inLine). With `reuse`, the buffers
 * are pooled and refilled once free, as readAhead's are.
 */
function* readFileInLine(fd: number, reuse: boolean): Generator<Buffer> {
  const free: Buffer[] = [];
  for (let pos = 0; ; ) {
    const b = free.pop() ?? (reuse ? pooledBuffer(CHUNK) : Buffer.allocUnsafe(CHUNK));
    const n = fs.readSync(fd, b, 0, CHUNK, pos);
    if (n === 0) return;
    pos += n;
    yield n === CHUNK ? b : b.subarray(0, n);
    if (reuse) whenFree(b, () => free.push(b));
  }
}

/**
 * `length` bytes of an open regular file from `start` (an archive's member),
 * AHEAD reads in flight; ending early is an error, as the file was changed.
 */
export function readFileRange(fd: number, start: number, length: number, what: string, opts: ReadSourceOptions = {}): AsyncGenerator<Buffer> {
  return readAhead(fd, start, start + length, opts.reuse ?? false, () => {
    throw new WhiteoutError(what, 'unexpected end of file (was it changed while being read?)', 'io');
  });
}

/** Anything else (a FIFO, a character device): one read at a time, at the file position. */
async function* readSerial(fd: number): AsyncGenerator<Buffer> {
  for (;;) {
    const b = await readAt(fd, null);
    if (b.length === 0) return;
    yield b;
  }
}

export interface ReadSourceOptions {
  /**
   * The consumer is done with each chunk when it asks for the next: nothing
   * keeps a view of it unless it holds a lease on it (src/fs/lease.ts: the
   * hashing thread and the write-behind do), and the rest is copied (a
   * compressed layer's chunks before the decompressor queues them). A regular
   * file is then read into the same AHEAD + 1 pooled buffers again (more only
   * while leases are out): a fresh MiB per read cost a page fault per 4 KiB and
   * a copy into cold memory (SPEC.md §10). Off by default.
   */
  reuse?: boolean;
  /**
   * Read a regular file on the calling thread, a chunk when it is asked for,
   * instead of AHEAD reads through the threadpool: for a consumer whose own
   * big writes fill the threadpool (unpack's write-behind), where a read
   * queued behind them made the main thread wait ~0.3 s of a 1.1 GB layer
   * (SPEC.md §10). Off by default.
   */
  inLine?: boolean;
}

/** Bytes of a file, or of standard input for `-`. */
export async function* readSource(file: string, opts: ReadSourceOptions = {}): AsyncGenerator<Buffer> {
  if (file === '-') {
    // Standard input redirected from a file is read in 1 MiB reads from its own offset (which need
    // not be 0, so no positioned read-ahead); a pipe is read as a stream.
    let regular = false;
    try {
      regular = fs.fstatSync(0).isFile();
    } catch {
      // No usable descriptor 0: let the stream report it.
    }
    if (regular) yield* readSerial(0);
    else for await (const chunk of process.stdin) yield chunk as Buffer;
    return;
  }
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, 'r');
  } catch (e) {
    if (hasCode(e, 'ENOENT')) throw new WhiteoutError(file, 'no such file', 'input');
    if (hasCode(e, 'EACCES')) throw new WhiteoutError(file, 'permission denied', 'io');
    throw e;
  }
  try {
    const st = await fh.stat();
    if (st.isDirectory()) throw new WhiteoutError(file, 'is a directory, not a layer file', 'input');
    if (!st.isFile()) yield* readSerial(fh.fd);
    else if (opts.inLine) yield* readFileInLine(fh.fd, opts.reuse ?? false);
    else yield* readFileAhead(fh.fd, opts.reuse ?? false);
  } finally {
    await fh.close();
  }
}

/** The size of a regular file, or undefined (standard input, a pipe, a missing file). */
export function sourceSize(file: string): number | undefined {
  try {
    const st = file === '-' ? fs.fstatSync(0) : fs.statSync(file);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Write a byte stream to standard output, honouring back-pressure. A reader
 * that goes away (`| head`) ends the output quietly, as for any Unix tool.
 */
export async function writeStdout(data: AsyncIterable<Buffer>): Promise<void> {
  let gone = false;
  let failure: Error | undefined;
  const onError = (err: Error) => {
    if (hasCode(err, 'EPIPE')) gone = true;
    else failure = err;
  };
  process.stdout.on('error', onError);
  try {
    for await (const chunk of data) {
      if (gone) return;
      if (failure) throw failure;
      if (!process.stdout.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            process.stdout.off('drain', done);
            process.stdout.off('error', done);
            resolve();
          };
          process.stdout.once('drain', done);
          process.stdout.once('error', done);
        });
      }
    }
    if (failure) throw failure;
  } finally {
    process.stdout.off('error', onError);
  }
}
