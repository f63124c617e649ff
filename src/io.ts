/** Byte sources and sinks for files and standard streams. */
import fs from 'node:fs';
import { WhiteoutError, hasCode } from './errors.js';

const CHUNK = 1 << 20;
/**
 * Reads kept in flight ahead of the consumer. With one read at a time, unpack
 * sat idle for a quarter of its run waiting for the next MiB (SPEC.md §10);
 * four MiB ahead is enough to hide the threadpool hand-off and bounds memory.
 */
const AHEAD = 4;

function readAt(fd: number, position: number | null, into?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A fresh buffer per read unless the caller reuses one: consumers keep views of chunks (bodies).
    const buf = into ?? Buffer.allocUnsafe(CHUNK);
    fs.read(fd, buf, 0, CHUNK, position, (err, n) => {
      if (err) reject(err);
      else resolve(n === CHUNK ? buf : buf.subarray(0, n));
    });
  });
}

/**
 * A regular file read with positioned reads, AHEAD of them in flight. A short
 * read means the file changed size under us: the reads already issued past it
 * are dropped and the rest is read one at a time, so no byte is skipped.
 * With `reuse`, a full chunk's buffer is read into again once the consumer
 * asks for the chunk after it (ReadSourceOptions.reuse).
 */
async function* readFileAhead(fd: number, reuse: boolean): AsyncGenerator<Buffer> {
  const inFlight: Promise<Buffer>[] = [];
  const free: Buffer[] = [];
  let next = 0;
  const issue = () => {
    const p = readAt(fd, next, free.pop());
    // A read the consumer never reaches (an error or an early return) must not become an unhandled rejection.
    p.catch(() => {});
    inFlight.push(p);
    next += CHUNK;
  };
  try {
    for (let i = 0; i < AHEAD; i++) issue();
    let pos = 0;
    while (inFlight.length > 0) {
      const b = await inFlight.shift()!;
      pos += b.length;
      if (b.length < CHUNK) {
        // The reads issued past `pos` read from a file of another size: drop them, go on serially.
        await Promise.allSettled(inFlight.splice(0));
        if (b.length > 0) yield b;
        for (;;) {
          const c = await readAt(fd, pos);
          if (c.length === 0) return;
          pos += c.length;
          yield c;
        }
      }
      issue();
      yield b;
      // Asked for the next chunk: the consumer is done with this one.
      if (reuse) free.push(b);
    }
  } finally {
    // The descriptor is closed after this: no read may still be using it.
    await Promise.allSettled(inFlight);
  }
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
   * keeps a view of it (unpack copies a body it writes behind, and a compressed
   * layer's chunks before the decompressor queues them). A regular file is then
   * read into the same AHEAD + 1 buffers again: a fresh MiB per read cost a page
   * fault per 4 KiB and a copy into cold memory (SPEC.md §10). Off by default.
   */
  reuse?: boolean;
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
    yield* st.isFile() ? readFileAhead(fh.fd, opts.reuse ?? false) : readSerial(fh.fd);
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
