/**
 * Layer compression. What a layer is compressed with is read from its first
 * bytes, never from a name or a media type, so a mislabelled layer still reads.
 */
import { Readable, type Transform, type TransformOptions, pipeline } from 'node:stream';
import { type ZlibOptions, createGunzip, createGzip } from 'node:zlib';
import { WhiteoutError } from '../errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const CHUNK = 64 * 1024;
/**
 * gunzip runs in the threadpool one chunk at a time, and only while its output
 * buffer is below the high-water mark: at the default (16 KiB) it stopped after
 * every chunk until the consumer came back for it, and flatten's main thread sat
 * idle 40% of the time. With 8 MiB it runs ahead while the tar is parsed and
 * written (SPEC.md §10). Output chunks of 512 KiB, not 1 MiB: with 1 MiB ones
 * V8 left 60–80 MB of spent output buffers to the next full GC (flatten of a
 * 300,000-file gzip layer peaked at 255–262 MB, 195 MB with 512 KiB), and the
 * bench's gzip cases took the same time either way.
 */
const GUNZIP_OPTIONS: ZlibOptions & TransformOptions = { chunkSize: 512 << 10, readableHighWaterMark: 8 << 20 };
/** Bytes needed to tell the formats apart (bzip2's magic is the longest). */
const PEEK = 10;

const startsWith = (b: Buffer, magic: readonly number[]): boolean => b.length >= magic.length && magic.every((m, i) => b[i] === m);

/**
 * The compression of a stream starting with `head`. xz and bzip2 are refused
 * by name: the OCI image spec allows only gzip and zstd, and a clear error
 * beats "bad header checksum at offset 0".
 */
export function detectCompression(head: Buffer, name = 'layer'): Compression {
  if (startsWith(head, [0x1f, 0x8b])) return 'gzip';
  if (startsWith(head, [0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  // A zstd skippable frame (magic 0x184D2A5?, little-endian) may lead a zstd stream.
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && startsWith(head.subarray(1), [0x2a, 0x4d, 0x18])) return 'zstd';
  if (startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) {
    throw new WhiteoutError(name, 'xz-compressed layers are not supported (OCI layers are plain, gzip or zstd)', 'input');
  }
  // "BZh" + level + a block or end-of-stream magic: "BZh" alone could start a file name.
  const bz = head.subarray(4);
  if (
    startsWith(head, [0x42, 0x5a, 0x68]) &&
    head[3]! >= 0x31 &&
    head[3]! <= 0x39 &&
    (startsWith(bz, [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]) || startsWith(bz, [0x17, 0x72, 0x45, 0x38, 0x50, 0x90]))
  ) {
    throw new WhiteoutError(name, 'bzip2-compressed layers are not supported (OCI layers are plain, gzip or zstd)', 'input');
  }
  return 'none';
}

/**
 * Run `source` through a Node transform. Errors from the transform go through
 * `wrap`; errors from the source pass unchanged (they are not corrupt data).
 */
async function* through(source: AsyncIterable<Buffer>, t: Transform, wrap?: (e: Error, fed: number) => Error): AsyncGenerator<Buffer> {
  let sourceFailed = false;
  let fed = 0;
  async function* guarded(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) {
        fed += chunk.length;
        yield chunk;
      }
    } catch (e) {
      sourceFailed = true;
      throw e;
    }
  }
  // pipeline destroys every stream on error or early exit; the callback only
  // keeps an unhandled error from being reported twice (iteration throws it).
  const out = pipeline(Readable.from(guarded(), { objectMode: false }), t, () => {}) as AsyncIterable<Buffer>;
  try {
    for await (const chunk of out) yield chunk;
  } catch (e) {
    if (sourceFailed || !wrap || e instanceof WhiteoutError || !(e instanceof Error)) throw e;
    throw wrap(e, fed);
  }
}

async function* copied(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const c of source) yield Buffer.from(c);
}

/** Yield `head` again, then the rest of `it`; close `it` if the consumer stops early. */
async function* replay(head: Buffer[], it: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  let done = false;
  try {
    yield* head;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        done = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!done) await it.return?.();
  }
}

/** Worth a zstd thread: a compressed stream of unknown size, or of 16 MiB and more (~40 ms of decoding in line). */
export function worthAZstdThread(compressedSize: number | undefined): boolean {
  return compressedSize === undefined || compressedSize >= 16 << 20;
}

export interface DecompressOptions {
  /** Names the input in errors. */
  name?: string;
  /** See decompress. */
  volatile?: boolean;
  /**
   * Decode zstd on a worker thread (src/tar/zstd-thread.ts): for a big layer,
   * as starting the thread costs ~30 ms. gzip is always decoded off the main
   * thread, in libuv's pool.
   */
  thread?: boolean;
}

/**
 * Decompress a layer: gzip (concatenated members too), zstd, or plain bytes
 * passed through. Corrupt or truncated compressed data is an error, never a
 * short read. `volatile`: the source refills a chunk once the next is asked
 * for (src/io.ts ReadSourceOptions.reuse), and the consumer is done with each
 * output chunk when it asks for the next, so the output may be refilled too.
 */
export async function* decompress(source: AsyncIterable<Buffer>, opts: DecompressOptions = {}): AsyncGenerator<Buffer> {
  const name = opts.name ?? 'layer';
  const it = source[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let kind: Compression;
  try {
    let n = 0;
    while (n < PEEK) {
      const r = await it.next();
      if (r.done) break;
      // Held while another chunk is asked for, a volatile source's chunk is copied (it may be refilled by then).
      head.push(opts.volatile && n + r.value.length < PEEK ? Buffer.from(r.value) : r.value);
      n += r.value.length;
    }
    kind = detectCompression(Buffer.concat(head), name);
  } catch (e) {
    await it.return?.();
    throw e;
  }
  // gunzip queues its input past the next read, so a volatile source's chunks are copied for it;
  // zstd is done with each input chunk before it asks for the next.
  const rest = kind === 'gzip' && opts.volatile ? copied(replay(head, it)) : replay(head, it);
  if (kind === 'none') {
    yield* rest;
  } else if (kind === 'gzip') {
    // zlib reports an error some way after the bad byte; the offset says how far input had been fed.
    yield* through(rest, createGunzip(GUNZIP_OPTIONS), (e, fed) => new WhiteoutError(name, `corrupt gzip data before compressed offset ${fed}: ${e.message}`, 'input'));
  } else if (opts.thread) {
    const { zstdDecodeOnThread } = await import('./zstd-thread.js');
    yield* zstdDecodeOnThread(rest, name, opts.volatile ?? false);
  } else {
    yield* zstdDecode(rest, name, opts.volatile ?? false);
  }
}

/**
 * zstd through the library's streaming call, one bounded output buffer at a
 * time: zstd-napi's DecompressStream hands out everything one input chunk
 * expands to at once, so a 10 KB layer that expands to 256 MiB cost 650 MB.
 */
async function* zstdDecode(source: AsyncIterable<Buffer>, name: string, reuse: boolean): AsyncGenerator<Buffer> {
  // zstd-napi (a native addon) is loaded only for a zstd layer: importing it cost every run ~12 ms (SPEC.md §10).
  const { default: zstdBinding } = await import('zstd-napi/binding.js');
  const dctx = new zstdBinding.DCtx();
  let offset = 0;
  // ZSTD_decompressStream returns 0 once a frame is fully decoded and flushed.
  let pending = 0;
  const fail = (e: unknown) => new WhiteoutError(name, `corrupt zstd data at compressed offset ${offset}: ${e instanceof Error ? e.message : String(e)}`, 'input');
  // Volatile: the consumer is done with an output chunk when it asks for the next, so one buffer serves.
  const shared = reuse ? Buffer.allocUnsafe(CHUNK) : undefined;
  for await (const input of source) {
    let src: Buffer = input;
    for (;;) {
      const dst = shared ?? Buffer.allocUnsafe(CHUNK);
      let produced: number;
      let consumed: number;
      let hint: number;
      try {
        [hint, produced, consumed] = dctx.decompressStream(dst, src);
      } catch (e) {
        throw fail(e);
      }
      // A call that neither read nor wrote (the one after an output buffer came back exactly full) answers for
      // the next frame, not this one: it returned 9 after a frame had ended with 0, and a layer whose size is a
      // multiple of the buffer's was called truncated.
      if (produced > 0 || consumed > 0) pending = hint;
      offset += consumed;
      src = src.subarray(consumed);
      if (produced > 0) yield dst.subarray(0, produced);
      // More output may wait while the buffer came back full; otherwise fetch more input.
      if (src.length === 0 && produced < CHUNK) break;
      if (produced === 0 && consumed === 0) throw fail(new Error('no progress'));
    }
  }
  if (pending !== 0) throw new WhiteoutError(name, `truncated zstd data: unexpected end at compressed offset ${offset}`, 'input');
}

/** Compress a stream; `level` is the codec's own scale (gzip 1–9, zstd 1–19). */
export async function* compress(source: AsyncIterable<Buffer>, kind: Compression, level?: number): AsyncGenerator<Buffer> {
  if (kind === 'none') {
    yield* source;
  } else if (kind === 'gzip') {
    yield* through(source, createGzip({ chunkSize: CHUNK, ...(level === undefined ? {} : { level }) }));
  } else {
    const { CompressStream } = await import('zstd-napi');
    yield* through(source, new CompressStream(level === undefined ? {} : { compressionLevel: level }));
  }
}
