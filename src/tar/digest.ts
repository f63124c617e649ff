/**
 * sha256 of a stream as it passes: the diffID of an uncompressed layer, the
 * digest of a compressed one, without reading it twice.
 *
 * A big stream is hashed on a worker thread: sha256 was a fifth of unpack's
 * main-thread CPU (SPEC.md §10), and on a second core it overlaps parsing and
 * writing. The bytes are copied into a few shared slots (a memcpy is about a
 * sixth of what hashing them costs), so the caller keeps its chunks and memory
 * stays bounded: when every slot is out, the stream waits. A chunk of a pooled
 * read buffer is not copied: the thread hashes it in place under a lease
 * (src/fs/lease.ts).
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { lease } from '../fs/lease.js';

/** A stream measured as it passes: always counted, hashed when asked. */
export interface MeasuredStream {
  stream: AsyncIterable<Buffer>;
  /** The byte count and, when hashed, "sha256:<hex>"; only once `stream` has been read to the end. */
  result: () => { digest?: string; size: number };
}

/** A measured stream that is always hashed. */
export interface DigestedStream extends MeasuredStream {
  result: () => { digest: string; size: number };
}

export interface DigestOptions {
  /**
   * Hash in a worker thread. Worth it for big streams only: starting the
   * thread costs ~50 ms of CPU, hashing runs at ~1.7 GB/s.
   */
  worker?: boolean;
}

/**
 * A stream counted as it passes, not hashed: for a caller that asked for no
 * digest (GNU tar hashes nothing; sha256 is ~0.6 s of CPU a GB).
 */
export function countedPassThrough(source: AsyncIterable<Buffer>): MeasuredStream {
  let size = 0;
  return {
    stream: (async function* () {
      for await (const c of source) {
        size += c.length;
        yield c;
      }
    })(),
    result: () => ({ size }),
  };
}

/** Worth a hashing thread: a stream of unknown size, or of 64 MiB and more. */
export function worthAHashThread(size: number | undefined): boolean {
  return size === undefined || size >= 64 << 20;
}

export function digestPassThrough(source: AsyncIterable<Buffer>, opts: DigestOptions = {}): DigestedStream {
  let size = 0;
  let digest: string | undefined;
  async function* inline(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    for await (const chunk of source) {
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
    digest = `sha256:${hash.digest('hex')}`;
  }
  async function* threaded(): AsyncGenerator<Buffer> {
    const hash = new ThreadedHash();
    try {
      for await (const chunk of source) {
        await hash.update(chunk);
        size += chunk.length;
        yield chunk;
      }
      digest = `sha256:${await hash.digest()}`;
    } finally {
      hash.abort();
    }
  }
  return {
    stream: opts.worker ? threaded() : inline(),
    result() {
      // A digest of part of a stream would be a wrong answer, not a partial one.
      if (digest === undefined) throw new Error('digest asked for before the stream was read to the end');
      return { digest, size };
    },
  };
}

const SLOT = 1 << 20;
/** Slots per stream: bounds the bytes queued for the hashing thread (6 MiB a stream). */
const SLOTS = 6;
/** Chunks of pooled read buffers the thread may hold at once, hashed in place (src/fs/lease.ts). */
const MAX_LEASED = 8;
/** Smaller chunks are copied into a slot: a message each would cost more than the copy. */
const LEASE_MIN = 64 << 10;
/** Rings kept for reuse: a layer's blob digest and diffID are hashed at once, so two cover the usual case. */
const POOLED_RINGS = 2;

/**
 * The hashing thread, shared by every stream of the process. Each stream
 * brings one SharedArrayBuffer of SLOTS slots at its start; after that only
 * small messages cross: "hash slot i, n bytes" and "slot i is free". Handing
 * transferable buffers to and fro made V8 count every hashed MiB as fresh
 * external memory, which set off a full GC every ~60 ms in flatten (SPEC.md §10).
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.start) hashes.set(m.id, { hash: createHash(m.start), ring: new Uint8Array(m.ring) });
  else if (m.buf !== undefined) {
    hashes.get(m.id).hash.update(new Uint8Array(m.buf, m.off, m.len));
    parentPort.postMessage({ id: m.id, leased: true });
  } else if (m.len !== undefined) {
    const h = hashes.get(m.id);
    h.hash.update(h.ring.subarray(m.slot * ${SLOT}, m.slot * ${SLOT} + m.len));
    parentPort.postMessage({ id: m.id, slot: m.slot });
  } else if (m.end) {
    const hex = hashes.get(m.id).hash.digest('hex');
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex });
  } else hashes.delete(m.id);
});
`;

interface FromWorker {
  id: number;
  /** A slot the thread has hashed: free again. */
  slot?: number;
  /** The oldest leased chunk has been hashed: its lease may go. */
  leased?: boolean;
  hex?: string;
}

let shared: HashThread | undefined;

/** The process's hashing thread. It never keeps the process alive: it is referenced only while a stream waits for it. */
class HashThread {
  private readonly worker: Worker;
  private readonly streams = new Map<number, ThreadedHash>();
  private nextId = 1;
  private waiting = 0;
  /** Rings of finished streams, for the next ones: a layer after another reuses the same memory. */
  private readonly rings: SharedArrayBuffer[] = [];
  failure: Error | undefined;

  constructor() {
    // Not the process's flags: under `node --input-type=module` the source would be read as ESM.
    this.worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
    this.worker.on('message', (m: FromWorker) => this.streams.get(m.id)?.answer(m));
    const fail = (e: Error) => {
      this.failure = e;
      if (shared === this) shared = undefined;
      for (const s of this.streams.values()) s.wake();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`hashing thread exited (code ${code})`)));
    // After the listeners: adding a 'message' listener refs the worker again (Node 20), and a
    // stream that failed before it ever waited for the thread left the process running forever.
    this.worker.unref();
  }

  static get(): HashThread {
    shared ??= new HashThread();
    return shared;
  }

  open(s: ThreadedHash, algorithm: string): { id: number; ring: SharedArrayBuffer } {
    const id = this.nextId++;
    const ring = this.rings.pop() ?? new SharedArrayBuffer(SLOT * SLOTS);
    this.streams.set(id, s);
    this.worker.postMessage({ id, start: algorithm, ring });
    return { id, ring };
  }

  post(msg: object): void {
    this.worker.postMessage(msg);
  }

  /** `ring` when the thread is done with it (it answered the digest), to be used again. */
  close(id: number, ring?: SharedArrayBuffer): void {
    this.streams.delete(id);
    if (ring && this.rings.length < POOLED_RINGS) this.rings.push(ring);
  }

  /** Hold the process open while someone waits for the thread's answer. */
  hold(on: boolean): void {
    this.waiting += on ? 1 : -1;
    if (on && this.waiting === 1) this.worker.ref();
    if (!on && this.waiting === 0) this.worker.unref();
  }
}

/**
 * A hash computed on the shared hashing thread. `update` copies the bytes into
 * the stream's ring of slots (a memcpy is about a sixth of the cost of hashing
 * them) and waits only when every slot is still queued; a chunk of a pooled
 * buffer it leases and sends as it is. The thread hashes a stream's messages
 * in order, so the answers come back in order too.
 */
export class ThreadedHash {
  private readonly thread: HashThread;
  private readonly id: number;
  private readonly ring: Uint8Array;
  /** The slot being filled, and how many slots are with the thread. */
  private slot = 0;
  private queued = 0;
  private used = 0;
  private hex: string | undefined;
  private waker: (() => void) | undefined;
  private closed = false;
  /** Leases on chunks handed to the thread in place, oldest first: given up as it answers. */
  private readonly leased: (() => void)[] = [];

  constructor(algorithm = 'sha256') {
    this.thread = HashThread.get();
    const { id, ring } = this.thread.open(this, algorithm);
    this.id = id;
    this.ring = new Uint8Array(ring);
  }

  /** From the thread: a slot back, or the digest. */
  answer(m: FromWorker): void {
    if (m.slot !== undefined) this.queued--;
    if (m.leased) this.leased.shift()?.();
    if (m.hex !== undefined) this.hex = m.hex;
    this.wake();
  }

  wake(): void {
    const w = this.waker;
    this.waker = undefined;
    w?.();
  }

  private async waitForThread(): Promise<void> {
    if (this.thread.failure) throw this.thread.failure;
    this.thread.hold(true);
    try {
      await new Promise<void>((resolve) => (this.waker = resolve));
    } finally {
      this.thread.hold(false);
    }
    if (this.thread.failure && this.hex === undefined) throw this.thread.failure;
  }

  private send(): void {
    this.thread.post({ id: this.id, slot: this.slot, len: this.used });
    this.queued++;
    this.slot = (this.slot + 1) % SLOTS;
    this.used = 0;
  }

  async update(chunk: Uint8Array): Promise<void> {
    if (this.thread.failure) throw this.thread.failure;
    // A chunk of a pooled read buffer is hashed where it lies; its buffer waits for the thread.
    const release = chunk.length >= LEASE_MIN ? lease(chunk) : undefined;
    if (release) {
      try {
        while (this.leased.length >= MAX_LEASED) await this.waitForThread();
        // The bytes already in a slot go first: the thread hashes in the order it is sent.
        if (this.used > 0) this.send();
      } catch (e) {
        release();
        throw e;
      }
      this.leased.push(release);
      this.thread.post({ id: this.id, buf: chunk.buffer, off: chunk.byteOffset, len: chunk.length });
      return;
    }
    let off = 0;
    while (off < chunk.length) {
      // The slot to fill is still with the thread: every slot is queued.
      while (this.queued === SLOTS) await this.waitForThread();
      const n = Math.min(chunk.length - off, SLOT - this.used);
      this.ring.set(chunk.subarray(off, off + n), this.slot * SLOT + this.used);
      this.used += n;
      off += n;
      if (this.used === SLOT) this.send();
    }
  }

  /** The hex digest; the hash is finished after this. */
  async digest(): Promise<string> {
    if (this.used > 0) this.send();
    this.thread.post({ id: this.id, end: true });
    while (this.hex === undefined) await this.waitForThread();
    this.closed = true;
    // The thread answered after hashing every slot: the ring is free.
    this.thread.close(this.id, this.ring.buffer as SharedArrayBuffer);
    return this.hex;
  }

  /** Drop an unfinished hash (the stream failed or was abandoned). */
  abort(): void {
    // Its answer no longer matters: the buffers may be refilled while the thread still reads them.
    for (const release of this.leased.splice(0)) release();
    if (this.closed) return;
    this.closed = true;
    this.thread.close(this.id);
    if (!this.thread.failure) this.thread.post({ id: this.id });
  }
}
