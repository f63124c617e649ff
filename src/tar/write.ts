/**
 * Streaming tar writer. Headers and small bodies are packed into batches so a
 * layer of many small files is not a stream of 512-byte chunks; large body
 * chunks pass through uncopied.
 */
import { WhiteoutError } from '../errors.js';
import { display } from '../paths.js';
import { dataSize, encodeHeader, padding } from './header.js';
import type { TarWriteEntry } from './types.js';

/** Pieces at least this big pass through as they are. */
const PASS_THROUGH = 64 * 1024;
const BATCH = 256 * 1024;

/** Collects small pieces into one buffer. */
class Batch {
  private buf = Buffer.allocUnsafe(BATCH);
  private n = 0;

  *push(b: Buffer): Generator<Buffer> {
    if (b.length >= PASS_THROUGH) {
      yield* this.flush();
      yield b;
      return;
    }
    if (this.n + b.length > BATCH) yield* this.flush();
    b.copy(this.buf, this.n);
    this.n += b.length;
  }

  *zeros(len: number): Generator<Buffer> {
    if (this.n + len > BATCH) yield* this.flush();
    this.buf.fill(0, this.n, this.n + len);
    this.n += len;
  }

  *flush(): Generator<Buffer> {
    if (this.n === 0) return;
    if (this.n < BATCH / 4) {
      // Copy out a small batch and keep the buffer, rather than pin 256 KiB.
      yield Buffer.from(this.buf.subarray(0, this.n));
    } else {
      yield this.buf.subarray(0, this.n);
      this.buf = Buffer.allocUnsafe(BATCH);
    }
    this.n = 0;
  }
}

/** A body from one buffer. */
export async function* bufferBody(b: Buffer): AsyncGenerator<Buffer> {
  if (b.length > 0) yield b;
}

/**
 * Write entries as a tar stream: header blocks, body, padding to 512, and at
 * the end two zero blocks (no blocking-factor padding). A body must deliver
 * exactly `header.size` bytes; a file that grew or shrank while it was read
 * would otherwise leave a corrupt archive.
 */
export async function* writeTar(entries: AsyncIterable<TarWriteEntry>): AsyncGenerator<Buffer> {
  const out = new Batch();
  for await (const { header, body } of entries) {
    yield* out.push(encodeHeader(header));
    const expected = dataSize(header);
    const what = (): string => display(header.name) || 'tar entry';
    const mismatch = (got: string): WhiteoutError =>
      header.type === 'file'
        ? new WhiteoutError(what(), `file changed size while being read: expected ${expected} bytes, got ${got}`, 'input')
        : new WhiteoutError(what(), `a ${header.type} entry cannot carry data`, 'input');
    let got = 0;
    if (body !== undefined) {
      for await (const chunk of Buffer.isBuffer(body) ? [body] : body) {
        if (got + chunk.length > expected) throw mismatch(`at least ${got + chunk.length}`);
        got += chunk.length;
        yield* out.push(chunk);
      }
    }
    if (got !== expected) throw mismatch(String(got));
    yield* out.zeros(padding(expected));
  }
  yield* out.zeros(1024);
  yield* out.flush();
}
