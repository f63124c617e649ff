/**
 * Check a blob against its descriptor while it streams past: too many bytes
 * fail at once, a short blob or a wrong digest fail at the end of the stream,
 * from inside the iteration, so whoever reads the layer sees the error before
 * anything below it is trusted (descriptor.md: content from untrusted sources
 * SHOULD be verified against digest and size).
 */
import { createHash } from 'node:crypto';
import { WhiteoutError } from '../errors.js';
import { ThreadedHash, worthAHashThread } from '../tar/digest.js';
import { type Digest, formatDigest } from './digest.js';

export interface Expected {
  digest?: Digest;
  size?: number;
  /** Names the blob in messages ("layer 3 blob sha256:…", "config"). */
  what: string;
  /** What kind of digest this is, for the message ("digest", "diffID"). */
  label?: string;
  /** Roughly how many bytes to expect when `size` is not known (a diffID: the blob's size). */
  sizeHint?: number;
}

export interface Measured {
  digest: string;
  size: number;
}

/**
 * Pass `source` through, hashing it (sha256, or the expected digest's
 * algorithm) and counting it. `onChunk` sees every chunk's length (progress);
 * `onEnd` gets what was measured, after the checks passed.
 */
export async function* verified(
  source: AsyncIterable<Buffer>,
  expect: Expected,
  onChunk?: (n: number) => void,
  onEnd?: (m: Measured) => void,
): AsyncGenerator<Buffer> {
  const alg = expect.digest?.algorithm ?? 'sha256';
  // Nothing to check it against and nobody to tell: only the size is checked (a plain layer file's
  // blob digest, which is also its diffID, was hashed twice and thrown away twice in flatten).
  const hashing = expect.digest !== undefined || onEnd !== undefined;
  // A big blob is hashed on the shared hashing thread, off the thread that parses and writes (SPEC.md §10).
  const threaded = hashing && worthAHashThread(expect.size ?? expect.sizeHint ?? 0) ? new ThreadedHash(alg) : undefined;
  const hash = threaded || !hashing ? undefined : createHash(alg);
  try {
    let size = 0;
    const label = expect.label ?? 'digest';
    for await (const chunk of source) {
      size += chunk.length;
      if (expect.size !== undefined && size > expect.size) {
        throw new WhiteoutError(expect.what, `is larger than the ${expect.size} bytes its descriptor says`, 'input');
      }
      if (threaded) await threaded.update(chunk);
      else hash?.update(chunk);
      onChunk?.(chunk.length);
      yield chunk;
    }
    if (expect.size !== undefined && size !== expect.size) {
      throw new WhiteoutError(expect.what, `is ${size} bytes, but its descriptor says ${expect.size}`, 'input');
    }
    if (!hashing) return;
    const hex = threaded ? await threaded.digest() : hash!.digest('hex');
    if (expect.digest && hex !== expect.digest.hex) {
      throw new WhiteoutError(expect.what, `${label} mismatch: expected ${formatDigest(expect.digest)}, got ${alg}:${hex}`, 'input');
    }
    onEnd?.({ digest: `${alg}:${hex}`, size });
  } finally {
    // Abandoned or failed part way: the thread forgets this hash.
    threaded?.abort();
  }
}

/** Read a small blob whole (JSON documents), verified, refusing more than `max` bytes. */
export async function readVerified(source: AsyncIterable<Buffer>, expect: Expected, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of verified(source, expect)) {
    n += chunk.length;
    if (n > max) throw new WhiteoutError(expect.what, `is larger than ${max} bytes; refusing to read it as a JSON document`, 'limit');
    parts.push(chunk);
  }
  return Buffer.concat(parts);
}

/**
 * A blob decoded for a reader that may stop before the end (flatten's second
 * pass over a layer, for hardlinks). The decoder sees the blob through a
 * shield: when the reader stops, the decoder is closed, and the rest of the
 * blob is read through `blob`, whose digest check runs at its end, but not
 * decoded. So every byte the reader was given is still proven, and what it
 * did not need costs a read and a hash instead of a gunzip and a parse.
 */
export async function* provenPrefix(blob: AsyncIterable<Buffer>, decode: (shielded: AsyncIterable<Buffer>) => AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = blob[Symbol.asyncIterator]();
  let ended = false;
  const shielded: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const r = await it.next();
        if (r.done) ended = true;
        return r;
      },
      // Closing the decoder leaves the blob open: the finally below reads it to its end.
      return: async () => ({ done: true, value: undefined }),
    }),
  };
  let failed = false;
  try {
    yield* decode(shielded);
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    if (!ended) {
      if (failed) await it.return?.();
      else for (let r = await it.next(); !r.done; r = await it.next());
    }
  }
}
