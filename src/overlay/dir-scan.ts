/**
 * A directory's children with their lstat and xattrs, for the overlay-directory
 * reader (src/overlay/dir-read.ts), in line or from a thread that scans ahead.
 *
 * pack's main thread spent about a quarter of its time in these syscalls
 * (readdir, lstat, and two listxattr per entry through fs-xattr), while the
 * second core had room. The thread walks the tree in the reader's own order
 * (depth first, names sorted by bytes, into every directory but a `.wh.` one)
 * and hands each listing over as it is made. It is claimed, not assumed: the
 * reader and the thread take each listing from one shared counter, so the reader
 * lists in line until it has listed START_AFTER entries, then starts the thread,
 * and goes on listing in line while the thread starts up (~25 ms) and whenever it
 * has not got there yet; the thread, finding a listing taken, only reads the
 * directory's entry types to go on. A small tree never starts the thread.
 *
 * The reader waits for the thread synchronously (Atomics.wait, then
 * receiveMessageOnPort), so the walk stays a plain generator with no promise
 * per entry. The thread stays at most WINDOW entries ahead of the reader.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import { WhiteoutError } from '../errors.js';
import type { EntryStats } from '../fs/stat.js';
import { readXattrsSync } from '../fs/xattr.js';
import { display } from '../paths.js';

export interface ScannedChild {
  /** The name, as a byte string. */
  name: string;
  st: EntryStats;
  xattrs: Map<string, Buffer>;
}

/** Tuning for ThreadScanner; the defaults are what pack uses. */
export interface ScanThreadOptions {
  /** Entries listed in line before the thread is started (default START_AFTER). */
  startAfter?: number;
  /** Entries the thread may list ahead of the reader (default WINDOW). */
  window?: number;
}

export interface DirScanner {
  /** The children of `dir` (at `real` on disk), names sorted by bytes. Called in the walk's order. */
  list(dir: string, real: Buffer): ScannedChild[];
  close(): void;
}

/** A directory that could not be read, listed in line or on the thread. */
function unreadable(what: string, dir: string, message: string): WhiteoutError {
  return new WhiteoutError(`${what}/${display(dir)}`, `cannot read directory: ${message}`, 'io');
}

/** Each child's lstat and xattrs, in line; `what/dir` names the directory in an error. */
export function scanInLine(real: Buffer, what: string, dir: string): ScannedChild[] {
  let names: string[];
  try {
    names = fs.readdirSync(real, { encoding: 'latin1' });
  } catch (e) {
    throw unreadable(what, dir, (e as Error).message);
  }
  names.sort();
  const base = real.toString('latin1');
  return names.map((name) => {
    const p = Buffer.from(`${base}/${name}`, 'latin1');
    const st = fs.lstatSync(p, { bigint: true });
    const xattrs = st.isSocket() ? new Map<string, Buffer>() : readXattrsSync(p, st.isSymbolicLink());
    return { name, st, xattrs };
  });
}

export class InlineScanner implements DirScanner {
  constructor(private readonly what: string) {}

  list(dir: string, real: Buffer): ScannedChild[] {
    return scanInLine(real, this.what, dir);
  }

  close(): void {}
}

/** Entries the thread may have listed that the reader has not taken yet. */
const WINDOW = 16384;

/** Slots of the shared Int32Array. */
const CLAIMED = 0; // listings claimed so far, by either side (the next one's index)
const POSTED = 1; // listings the thread has posted; bumped after each post
const TAKEN = 2; // entries the reader has taken from the thread
const LISTED = 3; // entries the thread has posted
const EXITED = 4; // 1 once the thread has stopped

/** The fields of an lstat the thread sends, in this order, per child. */
const FIELDS = 9;

/**
 * The thread. CommonJS, evaluated: dist/ and the TypeScript the tests run
 * would need different file names. It mirrors scanInLine and readXattrsSync;
 * test/overlay-dir-scan.test.ts checks that both give the same children.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const fsx = require(workerData.xattrModule);
const { port, base, shared } = workerData;
const s = new Int32Array(shared);
const O_PATH_NOFOLLOW = 0o10000000 | fs.constants.O_NOFOLLOW;
const ascii = /^[\\x20-\\x7e]*$/;

function xattrsAt(p) {
  let names;
  try { names = fsx.listAttributesSync(p); }
  catch (e) { if (e.code === 'ENOTSUP' || e.code === 'EOPNOTSUPP') return null; throw e; }
  if (names.length === 0) return null;
  const out = new Map();
  for (const n of names.sort()) {
    try { out.set(n, fsx.getAttributeSync(p, n)); }
    catch (e) { if (['ENODATA', 'ENOATTR', 'EPERM', 'EACCES'].includes(e.code)) continue; throw e; }
  }
  return out;
}
function xattrsOf(p, isSymlink) {
  const str = p.toString('latin1');
  if (!isSymlink && ascii.test(str)) return xattrsAt(str);
  const fd = fs.openSync(p, O_PATH_NOFOLLOW);
  try { return xattrsAt('/proc/self/fd/' + fd); } finally { fs.closeSync(fd); }
}
function abs(dir) { return Buffer.from(dir === '' ? base : base + '/' + dir, 'latin1'); }
function child(dir, name) { return dir === '' ? name : dir + '/' + name; }
function fail(dir, where, e) {
  port.postMessage({ dir, error: { where, message: String(e && e.message), code: e && e.code, syscall: e && e.syscall, errno: e && e.errno, path: e && e.path !== undefined ? String(e.path) : undefined } });
  Atomics.add(s, ${POSTED}, 1);
  Atomics.notify(s, ${POSTED});
}
let index = 0;
// Returns false to stop the walk (an error was posted).
function visit(dir) {
  const i = index++;
  const real = abs(dir);
  const mine = Atomics.compareExchange(s, ${CLAIMED}, i, i + 1) === i;
  let dirs;
  if (mine) {
    let names;
    try { names = fs.readdirSync(real, { encoding: 'latin1' }); }
    catch (e) { fail(dir, 'readdir', e); return false; }
    names.sort();
    while (((Atomics.load(s, ${LISTED}) - Atomics.load(s, ${TAKEN})) | 0) > workerData.window) Atomics.wait(s, ${TAKEN}, Atomics.load(s, ${TAKEN}), 100);
    const stats = new BigInt64Array(names.length * ${FIELDS});
    const xattrs = [];
    dirs = [];
    try {
      names.forEach((name, k) => {
        const p = Buffer.from(real.toString('latin1') + '/' + name, 'latin1');
        const st = fs.lstatSync(p, { bigint: true });
        const o = k * ${FIELDS};
        stats[o] = st.mode; stats[o + 1] = st.uid; stats[o + 2] = st.gid; stats[o + 3] = st.size; stats[o + 4] = st.nlink;
        stats[o + 5] = BigInt.asIntN(64, st.dev); stats[o + 6] = BigInt.asIntN(64, st.ino); stats[o + 7] = BigInt.asIntN(64, st.rdev); stats[o + 8] = st.mtimeNs;
        xattrs.push(st.isSocket() ? null : xattrsOf(p, st.isSymbolicLink()));
        if (st.isDirectory() && !name.startsWith('.wh.')) dirs.push(name);
      });
    } catch (e) { fail(dir, 'entry', e); return false; }
    Atomics.add(s, ${LISTED}, names.length);
    port.postMessage({ dir, names, stats, xattrs }, [stats.buffer]);
    Atomics.add(s, ${POSTED}, 1);
    Atomics.notify(s, ${POSTED});
  } else {
    // The reader listed this one itself: only its subdirectories matter here, and the
    // directory entries' types say which they are (Node lstats an entry of unknown type).
    dirs = [];
    let ents;
    try { ents = fs.readdirSync(real, { encoding: 'latin1', withFileTypes: true }); } catch { ents = []; }
    for (const e of ents) if (e.isDirectory() && !e.name.startsWith('.wh.')) dirs.push(e.name);
    dirs.sort();
  }
  for (const d of dirs) if (!visit(child(dir, d))) return false;
  return true;
}
try { visit(''); }
catch (e) { fail('', 'entry', e); }
finally { Atomics.store(s, ${EXITED}, 1); Atomics.notify(s, ${POSTED}); }
`;

interface Listing {
  dir: string;
  names?: string[];
  stats?: BigInt64Array;
  xattrs?: (Map<string, Uint8Array> | null)[];
  error?: { where: 'readdir' | 'entry'; message: string; code?: string; syscall?: string; errno?: number; path?: string };
}

const S_IFMT = 0o170000n;

/** An lstat as the thread sent it. */
class ScannedStats implements EntryStats {
  readonly mode: bigint;
  readonly uid: bigint;
  readonly gid: bigint;
  readonly size: bigint;
  readonly nlink: bigint;
  readonly dev: bigint;
  readonly ino: bigint;
  readonly rdev: bigint;
  readonly mtimeNs: bigint;

  constructor(a: BigInt64Array, o: number) {
    this.mode = a[o] as bigint;
    this.uid = a[o + 1] as bigint;
    this.gid = a[o + 2] as bigint;
    this.size = a[o + 3] as bigint;
    this.nlink = a[o + 4] as bigint;
    this.dev = BigInt.asUintN(64, a[o + 5] as bigint);
    this.ino = BigInt.asUintN(64, a[o + 6] as bigint);
    this.rdev = BigInt.asUintN(64, a[o + 7] as bigint);
    this.mtimeNs = a[o + 8] as bigint;
  }

  private type(): bigint {
    return this.mode & S_IFMT;
  }
  isFile(): boolean {
    return this.type() === 0o100000n;
  }
  isDirectory(): boolean {
    return this.type() === 0o040000n;
  }
  isSymbolicLink(): boolean {
    return this.type() === 0o120000n;
  }
  isCharacterDevice(): boolean {
    return this.type() === 0o020000n;
  }
  isBlockDevice(): boolean {
    return this.type() === 0o060000n;
  }
  isFIFO(): boolean {
    return this.type() === 0o010000n;
  }
  isSocket(): boolean {
    return this.type() === 0o140000n;
  }
}

/** Entries listed in line before a thread is started: a small tree never pays for one (~25 ms to start). */
const START_AFTER = 2000;

/** Listings from a thread that scans ahead, claimed one by one (see the top of this file). */
export class ThreadScanner implements DirScanner {
  private readonly shared = new Int32Array(new SharedArrayBuffer(8 * 4));
  private thread: { worker: Worker; port: MessagePort } | undefined;
  /** The index of the next listing the walk asks for. */
  private index = 0;
  private listedInLine = 0;
  /** Listings the thread made (the rest were made in line): for tests and measurements. */
  listingsFromThread = 0;
  /** Set when a listing came for another directory than the walk's (the tree changed during the walk). */
  outOfStep = false;
  private closed = false;

  constructor(
    private readonly base: Buffer,
    private readonly what: string,
    private readonly opts: ScanThreadOptions = {},
  ) {}

  private start(): void {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the process's flags: under `node --input-type=module` the source would be read as ESM.
      execArgv: [],
      workerData: {
        port: port2,
        base: this.base.toString('latin1'),
        shared: this.shared.buffer,
        window: this.opts.window ?? WINDOW,
        xattrModule: createRequire(import.meta.url).resolve('fs-xattr'),
      },
      transferList: [port2],
    });
    // Never what keeps the process alive; its failures arrive as listings, or as EXITED.
    worker.unref();
    worker.on('error', () => {});
    this.thread = { worker, port: port1 };
  }

  private inLine(dir: string, real: Buffer): ScannedChild[] {
    const out = scanInLine(real, this.what, dir);
    this.listedInLine += out.length;
    return out;
  }

  list(dir: string, real: Buffer): ScannedChild[] {
    const i = this.index++;
    if (!this.thread && !this.closed && (this.opts.startAfter ?? START_AFTER) === 0) this.start();
    const thread = this.thread;
    if (this.closed) return this.inLine(dir, real);
    // Not reached by the thread yet (or no thread): list it here, and the thread will skip it.
    if (Atomics.compareExchange(this.shared, CLAIMED, i, i + 1) === i) {
      const out = this.inLine(dir, real);
      if (!thread && this.listedInLine >= (this.opts.startAfter ?? START_AFTER)) this.start();
      return out;
    }
    if (!thread) throw new Error('directory scan: a listing was claimed with no thread to make it');
    for (;;) {
      const posted = Atomics.load(this.shared, POSTED);
      const m = receiveMessageOnPort(thread.port);
      if (m) return this.take(m.message as Listing, dir, real);
      if (Atomics.load(this.shared, EXITED) === 1) {
        // Stopped without this listing (it failed on an error it has posted, or was
        // terminated): list it here, which meets the same error, or none if it has gone.
        return this.inLine(dir, real);
      }
      Atomics.wait(this.shared, POSTED, posted, 50);
    }
  }

  private take(m: Listing, dir: string, real: Buffer): ScannedChild[] {
    if (m.dir !== dir) {
      // The walks disagree on the order (the tree changed under them): list in line from here on.
      this.outOfStep = true;
      this.close();
      return this.inLine(dir, real);
    }
    if (m.error) {
      if (m.error.where === 'readdir') throw unreadable(this.what, dir, m.error.message);
      throw Object.assign(new Error(m.error.message), { code: m.error.code, syscall: m.error.syscall, errno: m.error.errno, path: m.error.path });
    }
    const names = m.names ?? [];
    const stats = m.stats ?? new BigInt64Array(0);
    const xattrs = m.xattrs ?? [];
    Atomics.add(this.shared, TAKEN, names.length);
    Atomics.notify(this.shared, TAKEN);
    this.listingsFromThread++;
    return names.map((name, k) => {
      const x = xattrs[k];
      const map = new Map<string, Buffer>();
      if (x) for (const [key, v] of x) map.set(key, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      return { name, st: new ScannedStats(stats, k * FIELDS), xattrs: map };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.thread) return;
    this.thread.port.close();
    void this.thread.worker.terminate();
  }
}
