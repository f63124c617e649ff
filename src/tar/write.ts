/**
 * Streaming tar writer. Headers and small bodies are packed into batches so a
 * layer of many small files is not a stream of 512-byte chunks; large body
 * chunks pass through uncopied.
 */
import { WhiteoutError } from '../errors.js';
import { pooledBuffer, whenFree } from '../fs/lease.js';
import { display } from '../paths.js';
import { dataSize, padding, planHeader } from './header.js';
import { type ReadIntoBody, type TarHeader, type TarWriteEntry, readIntoBody, takeWhole } from './types.js';

/** Pieces at least this big pass through as they are. */
const PASS_THROUGH = 64 * 1024;
const BATCH = 1024 * 1024;

/** How the chunks a writer yields may be used. */
export interface WriteTarOptions {
  /**
   * The consumer is done with each chunk before it asks for the next (it writes
   * it synchronously, or copies it), so the writer fills the same batch buffer
   * again instead of a fresh one. Fresh 1 MiB buffers cost page faults and cold
   * copies (SPEC.md §10). Not for a consumer that queues chunks (a compressor, a
   * pipe, a collector): it would see them overwritten.
   */
  reuse?: boolean;
}

/** Collects small pieces into one buffer; file bodies on disk are read straight into it. */
class Batch {
  private buf: Buffer;
  private n = 0;
  /** With reuse: pooled batch buffers no one holds a lease on any more (src/fs/lease.ts). */
  private readonly spare: Buffer[] = [];

  constructor(private readonly reuse: boolean) {
    // A reused batch is a pooled buffer: the hashing thread may lease it and hash it in place.
    this.buf = reuse ? pooledBuffer(BATCH) : Buffer.allocUnsafe(BATCH);
  }

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

  /** An entry's header blocks, encoded straight into the batch (a Buffer each was ~7% of flattening many small files). */
  *header(h: TarHeader): Generator<Buffer> {
    const plan = planHeader(h);
    if (plan.length >= PASS_THROUGH) {
      // A header with big PAX records (xattrs) passes through as a buffer of its own.
      const own = Buffer.alloc(plan.length);
      plan.writeInto(own, 0);
      yield* this.push(own);
      return;
    }
    if (this.n + plan.length > BATCH) yield* this.flush();
    this.buf.fill(0, this.n, this.n + plan.length);
    plan.writeInto(this.buf, this.n);
    this.n += plan.length;
  }

  *zeros(len: number): Generator<Buffer> {
    if (this.n + len > BATCH) yield* this.flush();
    this.buf.fill(0, this.n, this.n + len);
    this.n += len;
  }

  /**
   * A file's bytes read into the batch, flushing it whenever it fills. Each read asks
   * for one byte more than is left (when there is room), so the end of a file that
   * did not change is seen without a read of its own. Returns the bytes read, which
   * is more than `expected` when the file grew (the caller fails the entry).
   */
  *readFrom(body: ReadIntoBody, expected: number): Generator<Buffer, number> {
    let got = 0;
    for (;;) {
      if (this.n === BATCH) yield* this.flush();
      const want = Math.min(expected - got + 1, BATCH - this.n);
      const n = body.readInto(this.buf, this.n, want);
      if (n === 0) return got;
      this.n += n;
      got += n;
      if (got > expected) return got;
      if (got === expected && n < want) return got;
    }
  }

  *flush(): Generator<Buffer> {
    if (this.n === 0) return;
    if (this.reuse) {
      // Resumed only once the consumer is done with the view (WriteTarOptions.reuse); a lease on it
      // (the hashing thread) may outlast that, so the next batch fills a spare buffer meanwhile.
      const full = this.buf;
      yield full.subarray(0, this.n);
      whenFree(full, () => this.spare.push(full));
      this.buf = this.spare.pop() ?? pooledBuffer(BATCH);
    } else if (this.n < BATCH / 4) {
      // Copy out a small batch and keep the buffer, rather than pin a whole batch.
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
 * would otherwise leave a corrupt archive. Entries given as a plain iterable
 * whose bodies are files on disk (ReadIntoBody) are written without awaiting
 * anything but the consumer: no promise per entry.
 */
export async function* writeTar(entries: AsyncIterable<TarWriteEntry> | Iterable<TarWriteEntry>, opts: WriteTarOptions = {}): AsyncGenerator<Buffer> {
  const out = new Batch(opts.reuse ?? false);
  if (Symbol.iterator in entries) for (const e of entries) yield* writeEntry(out, e);
  else for await (const e of entries) yield* writeEntry(out, e);
  yield* out.zeros(1024);
  yield* out.flush();
}

/**
 * One entry: in line unless its body is a stream to await (anything but a
 * Buffer, a file on disk, or a tar reader's body that the chunk in hand holds
 * whole: a generator and an await per small file were ~10% of flattening a
 * layer of 200,000 of them).
 */
function writeEntry(out: Batch, { header, body }: TarWriteEntry): Generator<Buffer> | AsyncGenerator<Buffer> {
  if (body === undefined || Buffer.isBuffer(body)) return writeInLine(out, header, body);
  const direct = readIntoBody(body) ?? takeWhole(body);
  return direct ? writeInLine(out, header, direct) : writeStreamed(out, header, body);
}

function mismatch(header: TarHeader, expected: number, got: string): WhiteoutError {
  const what = display(header.name) || 'tar entry';
  return header.type === 'file'
    ? new WhiteoutError(what, `file changed size while being read: expected ${expected} bytes, got ${got}`, 'input')
    : new WhiteoutError(what, `a ${header.type} entry cannot carry data`, 'input');
}

async function* writeStreamed(out: Batch, header: TarHeader, body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield* out.header(header);
  const expected = dataSize(header);
  let got = 0;
  for await (const chunk of body) {
    if (got + chunk.length > expected) throw mismatch(header, expected, `at least ${got + chunk.length}`);
    got += chunk.length;
    yield* out.push(chunk);
  }
  if (got !== expected) throw mismatch(header, expected, String(got));
  yield* out.zeros(padding(expected));
}

function* writeInLine(out: Batch, header: TarHeader, body: Buffer | ReadIntoBody | undefined): Generator<Buffer> {
  try {
    const expected = dataSize(header);
    if (Buffer.isBuffer(body) && body.length > expected) throw mismatch(header, expected, `at least ${body.length}`);
    yield* out.header(header);
    let got = 0;
    if (Buffer.isBuffer(body)) {
      if (body.length > 0) yield* out.push(body);
      got = body.length;
    } else if (body !== undefined) {
      got = yield* out.readFrom(body, expected);
      if (got > expected) throw mismatch(header, expected, `at least ${got}`);
    }
    if (got !== expected) throw mismatch(header, expected, String(got));
    yield* out.zeros(padding(expected));
  } finally {
    if (body !== undefined && !Buffer.isBuffer(body)) body.close();
  }
}
