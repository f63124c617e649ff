/**
 * Leases on a reader's pooled buffers (src/io.ts ReadSourceOptions.reuse).
 *
 * A reader that refills its buffers hands each chunk out once: when the
 * consumer asks for the next chunk, the buffer goes back to the pool. Two
 * consumers want the bytes a little longer: the hashing thread (it reads the
 * chunk in place, src/tar/digest.ts) and the write-behind (a body's pwrite,
 * src/fs/write-behind.ts). Without leases both copied every byte (1.1 GB each
 * for the bench's big layer, ~0.14 s of the main thread). With a lease the
 * buffer goes back only when the last lease on it is given up.
 *
 * Pooled buffers are SharedArrayBuffer-backed, so the hashing thread can read
 * them without a copy; only buffers `pooled` marked can be leased.
 */

interface Pooled {
  /** Leases not yet given up. */
  leases: number;
  /** Set by the pool while leases are out: the buffer's way back. */
  onFree: (() => void) | undefined;
}

const pool = new WeakMap<ArrayBufferLike, Pooled>();

/** A buffer of `size` bytes in shared memory, which chunks may lease. */
export function pooledBuffer(size: number): Buffer {
  const sab = new SharedArrayBuffer(size);
  pool.set(sab, { leases: 0, onFree: undefined });
  return Buffer.from(sab);
}

/**
 * Keep `chunk`'s buffer from being refilled until the returned function is
 * called (once). Undefined when the chunk is not in a pooled buffer: the
 * caller copies it instead.
 */
export function lease(chunk: Uint8Array): (() => void) | undefined {
  const p = pool.get(chunk.buffer);
  if (!p) return undefined;
  p.leases++;
  let given = false;
  return () => {
    if (given) return;
    given = true;
    if (--p.leases > 0) return;
    const back = p.onFree;
    p.onFree = undefined;
    back?.();
  };
}

/**
 * The pool's side: `back` runs when `buf` may be refilled, now if no lease
 * is out, else when the last one is given up.
 */
export function whenFree(buf: Buffer, back: () => void): void {
  const p = pool.get(buf.buffer);
  if (!p || p.leases === 0) {
    back();
    return;
  }
  p.onFree = back;
}
