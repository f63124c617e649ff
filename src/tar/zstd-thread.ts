/**
 * zstd decoded on a worker thread, for a big layer. In line, decoding took its
 * turn on the main thread with parsing and writing, where GNU tar runs
 * `zstd -d` as a second process (SPEC.md §10).
 *
 * The thread owns the decoder. The compressed bytes are copied into a ring of
 * input slots (they are the smaller side, and the caller's read buffers go
 * back at once); the thread decodes into output slots that are pooled buffers
 * (src/fs/lease.ts), so the hashing thread and the write-behind can hold a
 * chunk where it lies. Both sides keep count in shared memory: the thread
 * sleeps in Atomics.wait, the main thread awaits Atomics.waitAsync, and no
 * message crosses per chunk.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { WhiteoutError } from '../errors.js';
import { pooledBuffer, whenFree } from '../fs/lease.js';

/** Compressed bytes per input slot, and slots: 4 MiB queued for the thread at most. */
const IN_SLOT = 1 << 20;
const IN_SLOTS = 4;
/** Decoded bytes per output slot, and slots: 8 MiB decoded ahead at most (as gunzip's, src/tar/compress.ts). */
const OUT_SLOT = 512 << 10;
const OUT_SLOTS = 16;

// Counters and flags in the shared control array.
/** Input slots the main thread has filled (or marked as the end). */
const IN_FILLED = 0;
/** Input slots the thread is done with. */
const IN_TAKEN = 1;
/** Output slots the thread has filled. */
const OUT_FILLED = 2;
/** Output slots given back, in order. */
const OUT_FREED = 3;
/** Set by the thread when it stops: DONE, TRUNCATED or FAILED. */
const STATE = 4;
/** Set by the main thread: stop now. */
const ABORT = 5;
/** Each input slot's length (-1: the end of the input), then each output slot's. */
const IN_LEN = 8;
const OUT_LEN = IN_LEN + IN_SLOTS;
const CONTROL_INTS = OUT_LEN + OUT_SLOTS;

const RUNNING = 0;
const DONE = 1;
const TRUNCATED = 2;
const FAILED = 3;

/** The thread's side: synchronous, it only ever waits on the control array. */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { DCtx } = require(workerData.binding);
const ctl = new Int32Array(workerData.control);
const input = Buffer.from(workerData.input);
const outs = workerData.outputs.map((b) => Buffer.from(b));
const dctx = new DCtx();
// Sleep while ctl[i] is still seen; false when told to stop.
const waitFor = (i, seen) => {
  while (Atomics.load(ctl, i) === seen) {
    if (Atomics.load(ctl, ${ABORT}) !== 0) return false;
    Atomics.wait(ctl, i, seen);
  }
  return Atomics.load(ctl, ${ABORT}) === 0;
};
const stop = (state) => {
  Atomics.store(ctl, ${STATE}, state);
  Atomics.notify(ctl, ${OUT_FILLED});
  Atomics.notify(ctl, ${IN_TAKEN});
};
let taken = 0, filled = 0, offset = 0, pending = 0;
run: for (;;) {
  if (!waitFor(${IN_FILLED}, taken)) break;
  const slot = taken % ${IN_SLOTS};
  const len = ctl[${IN_LEN} + slot];
  // ZSTD_decompressStream returns 0 once a frame is fully decoded and flushed.
  if (len < 0) { stop(pending === 0 ? ${DONE} : ${TRUNCATED}); break; }
  let src = input.subarray(slot * ${IN_SLOT}, slot * ${IN_SLOT} + len);
  for (;;) {
    if (filled - Atomics.load(ctl, ${OUT_FREED}) === ${OUT_SLOTS} && !waitFor(${OUT_FREED}, filled - ${OUT_SLOTS})) break run;
    const o = filled % ${OUT_SLOTS};
    let hint, produced, consumed;
    try {
      [hint, produced, consumed] = dctx.decompressStream(outs[o], src);
      if (produced === 0 && consumed === 0 && src.length > 0) throw new Error('no progress');
    } catch (e) {
      parentPort.postMessage({ error: e instanceof Error ? e.message : String(e), offset });
      stop(${FAILED});
      break run;
    }
    // A call that neither read nor wrote answers for the next frame (src/tar/compress.ts zstdDecode).
    if (produced > 0 || consumed > 0) pending = hint;
    offset += consumed;
    src = src.subarray(consumed);
    if (produced > 0) {
      ctl[${OUT_LEN} + o] = produced;
      Atomics.store(ctl, ${OUT_FILLED}, ++filled);
      Atomics.notify(ctl, ${OUT_FILLED});
    }
    // More output may wait while the slot came back full; otherwise take the next input.
    if (src.length === 0 && produced < ${OUT_SLOT}) break;
  }
  Atomics.store(ctl, ${IN_TAKEN}, ++taken);
  Atomics.notify(ctl, ${IN_TAKEN});
}
`;

/** Atomics.waitAsync (ES2024; in Node since 16), which the ES2022 lib does not declare. */
type WaitAsync = (ta: Int32Array, index: number, value: number) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/**
 * Decode a zstd stream on a worker thread. `reuse`: the consumer is done with
 * a chunk when it asks for the next, so chunks are the thread's own slots
 * (given back then, or when the last lease on one is); otherwise each is copied.
 */
export async function* zstdDecodeOnThread(source: AsyncIterable<Buffer>, name: string, reuse: boolean): AsyncGenerator<Buffer> {
  const ctl = new Int32Array(new SharedArrayBuffer(CONTROL_INTS * 4));
  const input = Buffer.from(new SharedArrayBuffer(IN_SLOT * IN_SLOTS));
  const outs = Array.from({ length: OUT_SLOTS }, () => pooledBuffer(OUT_SLOT));
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    // Not the process's flags: under `node --input-type=module` the source would be read as ESM.
    execArgv: [],
    workerData: { binding: createRequire(import.meta.url).resolve('zstd-napi/binding.js'), control: ctl.buffer, input: input.buffer, outputs: outs.map((b) => b.buffer) },
  });
  let failure: Error | undefined;
  // The thread posts why it failed before it says so in the control array; this waits for the post.
  let failed: () => void = () => undefined;
  const failureKnown = new Promise<void>((resolve) => (failed = resolve));
  let fed = 0;
  const fail = (e: Error) => {
    failure ??= e;
    failed();
    Atomics.store(ctl, STATE, FAILED);
    Atomics.notify(ctl, OUT_FILLED);
    Atomics.notify(ctl, IN_TAKEN);
  };
  worker.on('message', (m: { error: string; offset: number }) => fail(new WhiteoutError(name, `corrupt zstd data at compressed offset ${m.offset}: ${m.error}`, 'input')));
  worker.on('error', (e) => fail(new Error(`zstd thread failed: ${e.message}`)));
  worker.on('exit', (code) => {
    if (Atomics.load(ctl, STATE) === RUNNING && Atomics.load(ctl, ABORT) === 0) fail(new Error(`zstd thread exited (code ${code})`));
  });
  const stopped = () => Atomics.load(ctl, STATE) !== RUNNING || Atomics.load(ctl, ABORT) !== 0;
  // The thread holds the process open only while someone waits for it: a pending Atomics.waitAsync does not, and
  // a stream its consumer dropped without closing it must not keep node running.
  worker.unref();
  let waiting = 0;
  /** Resolves once ctl[i] is no longer `seen` (or someone notified it). */
  const changed = async (i: number, seen: number): Promise<void> => {
    const r = waitAsync(ctl, i, seen);
    if (!r.async) return;
    if (waiting++ === 0) worker.ref();
    try {
      await r.value;
    } finally {
      if (--waiting === 0) worker.unref();
    }
  };

  // The input, fed while the output is read: copied into the ring, a slot at a time.
  const feed = async () => {
    let filled = 0;
    let used = 0;
    const send = (len: number) => {
      ctl[IN_LEN + (filled % IN_SLOTS)] = len;
      Atomics.store(ctl, IN_FILLED, ++filled);
      Atomics.notify(ctl, IN_FILLED);
    };
    // The slot to fill is with the thread while every slot is.
    const slotFree = async () => {
      while (!stopped() && filled - Atomics.load(ctl, IN_TAKEN) === IN_SLOTS) await changed(IN_TAKEN, filled - IN_SLOTS);
      return !stopped();
    };
    for await (const chunk of source) {
      let off = 0;
      while (off < chunk.length) {
        if (!(await slotFree())) return;
        const n = Math.min(chunk.length - off, IN_SLOT - used);
        chunk.copy(input, (filled % IN_SLOTS) * IN_SLOT + used, off, off + n);
        used += n;
        off += n;
        fed += n;
        if (used === IN_SLOT) {
          send(used);
          used = 0;
        }
      }
    }
    if (used > 0) {
      if (!(await slotFree())) return;
      send(used);
    }
    if (!(await slotFree())) return;
    send(-1);
  };
  const feeding = feed().catch((e: unknown) => {
    fail(e instanceof Error ? e : new Error(String(e)));
    // The source's own error, as the in-line decoder would let it through.
    throw e;
  });
  // Not unhandled while the output is read; it is awaited below.
  feeding.catch(() => undefined);

  // Output slots come back out of order (leases), but the thread counts them in order.
  const back: boolean[] = new Array<boolean>(OUT_SLOTS).fill(false);
  let freed = 0;
  const giveBack = (o: number) => {
    back[o] = true;
    while (back[freed % OUT_SLOTS]) {
      back[freed % OUT_SLOTS] = false;
      freed++;
    }
    Atomics.store(ctl, OUT_FREED, freed);
    Atomics.notify(ctl, OUT_FREED);
  };
  let read = 0;
  try {
    for (;;) {
      while (Atomics.load(ctl, OUT_FILLED) === read && !stopped()) await changed(OUT_FILLED, read);
      // Everything the thread decoded comes out before its end (or failure) is looked at.
      if (Atomics.load(ctl, OUT_FILLED) === read) break;
      const o = read % OUT_SLOTS;
      const chunk = outs[o]!.subarray(0, ctl[OUT_LEN + o]);
      read++;
      if (reuse) {
        yield chunk;
        whenFree(outs[o]!, () => giveBack(o));
      } else {
        const copy = Buffer.from(chunk);
        giveBack(o);
        yield copy;
      }
    }
    await feeding;
    const state = Atomics.load(ctl, STATE);
    if (state === FAILED) await failureKnown;
    if (failure) throw failure;
    if (state === TRUNCATED) throw new WhiteoutError(name, `truncated zstd data: unexpected end at compressed offset ${fed}`, 'input');
    if (state !== DONE) throw new Error('zstd thread stopped before the end');
  } finally {
    Atomics.store(ctl, ABORT, 1);
    for (const i of [IN_FILLED, IN_TAKEN, OUT_FILLED, OUT_FREED]) Atomics.notify(ctl, i);
    // The thread stops by itself once told.
    await feeding.catch(() => undefined);
  }
}
