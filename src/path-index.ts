/**
 * A set of layer paths, each numbered by a small id, kept outside the JS heap.
 *
 * flatten, hidden and check keep one record for every path of an image. In a
 * `Map<string, number>` a path cost its string (~36 bytes for a 20-byte path),
 * a map entry (~28) and the heap's slack on top: 1,000,000 paths took flatten
 * past 200 MB (SPEC.md §10). Here a path costs its bytes in an arena of 1 MiB
 * chunks, 12 bytes of typed arrays and its share of an open-addressing table
 * of ids, none of it scanned by the garbage collector. Callers keep their own
 * values in typed arrays indexed by id.
 *
 * Paths are byte strings (src/paths.ts: one char per byte), so a key is stored
 * as exactly its chars and compared without decoding.
 *
 * The hash is seeded at random per index, as V8 seeds its own: a layer is
 * untrusted input, and paths chosen to collide under a known hash would make
 * every lookup a scan of the table.
 */
import { randomBytes } from 'node:crypto';
import { WhiteoutError } from './errors.js';

const CHUNK = 1 << 20;
/** A key's location: chunk × CHUNK + offset; a key longer than a chunk gets a chunk of its own, at offset 0. */
const MAX_CHUNKS = 4095;
/** `loc` of an id that is free. */
const FREE = 0xffffffff;
const EMPTY = -1;

/** Grow a typed array of values by id so that it holds `min` ids (doubling: amortised O(1) an id). */
export function ensureLength<T extends Uint32Array | Int32Array | Float64Array>(a: T, min: number): T {
  if (min <= a.length) return a;
  let n = a.length;
  while (n < min) n *= 2;
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

export class PathIndex {
  private readonly seed: number = randomBytes(4).readInt32LE(0);
  private chunks: Buffer[] = [];
  /** Free bytes from `at` to the end of the last chunk. */
  private at = CHUNK;
  private loc = new Uint32Array(1024);
  private len = new Uint32Array(1024);
  private hash = new Int32Array(1024);
  /** Open addressing with linear probing: an id, or EMPTY. Never more than half full. */
  private table = new Int32Array(2048).fill(EMPTY);
  private mask = 2047;
  /** Ids 0 … top-1 have been handed out; the free ones wait in `free` for reuse. */
  private top = 0;
  private readonly free: number[] = [];
  private count = 0;
  /** Arena bytes of keys since removed: reclaimed by `compact` once they outweigh the live ones. */
  private dead = 0;
  private live = 0;

  get size(): number {
    return this.count;
  }

  /** One past the highest id handed out: value arrays need this many places. */
  get idLimit(): number {
    return this.top;
  }

  private hashOf(p: string): number {
    let h = this.seed ^ p.length;
    for (let i = 0; i < p.length; i++) h = Math.imul(h ^ p.charCodeAt(i), 0x01000193);
    // A final mix (murmur3's) so that the table's low bits depend on every char.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  private equals(id: number, p: string): boolean {
    if (this.len[id] !== p.length) return false;
    const l = this.loc[id]!;
    const c = this.chunks[Math.floor(l / CHUNK)]!;
    const o = l % CHUNK;
    for (let i = 0; i < p.length; i++) if (c[o + i] !== p.charCodeAt(i)) return false;
    return true;
  }

  /** The table position holding `p`, or the empty position where it would go. */
  private position(p: string, h: number): number {
    let i = h & this.mask;
    for (;;) {
      const id = this.table[i]!;
      if (id === EMPTY || (this.hash[id] === h && this.equals(id, p))) return i;
      i = (i + 1) & this.mask;
    }
  }

  /** The id of `p`, or -1. */
  find(p: string): number {
    return this.table[this.position(p, this.hashOf(p))]!;
  }

  /** The id of `p`, added if it was not there. */
  add(p: string): number {
    const h = this.hashOf(p);
    const i = this.position(p, h);
    const found = this.table[i]!;
    if (found !== EMPTY) return found;
    const id = this.free.pop() ?? this.top++;
    if (id >= this.loc.length) {
      this.loc = ensureLength(this.loc, id + 1);
      this.len = ensureLength(this.len, id + 1);
      this.hash = ensureLength(this.hash, id + 1);
    }
    this.loc[id] = this.store(p);
    this.len[id] = p.length;
    this.hash[id] = h;
    this.table[i] = id;
    this.count++;
    this.live += p.length;
    if (this.count * 2 > this.mask + 1) this.rehash((this.mask + 1) * 2);
    return id;
  }

  /** Copy `p`'s bytes into the arena; returns its location. */
  private store(p: string): number {
    if (p.length > CHUNK - this.at || this.chunks.length === 0) {
      if (this.chunks.length >= MAX_CHUNKS) {
        throw new WhiteoutError('path index', `more than ${MAX_CHUNKS} MiB of path names`, 'limit');
      }
      this.chunks.push(Buffer.allocUnsafeSlow(Math.max(CHUNK, p.length)));
      this.at = 0;
    }
    const c = this.chunks.length - 1;
    const o = this.at;
    this.chunks[c]!.write(p, o, 'latin1');
    // A key as long as a chunk or longer fills its chunk: the next key starts a new one.
    this.at = Math.min(CHUNK, o + p.length);
    return c * CHUNK + o;
  }

  /** Remove `p`; its id is handed out again later. */
  remove(p: string): void {
    const i = this.position(p, this.hashOf(p));
    if (this.table[i] !== EMPTY) this.removeAt(i);
  }

  /** Remove the path numbered `id` (an id in use). */
  removeId(id: number): void {
    let i = this.hash[id]! & this.mask;
    while (this.table[i] !== id) i = (i + 1) & this.mask;
    this.removeAt(i);
  }

  private removeAt(i: number): void {
    const id = this.table[i]!;
    this.loc[id] = FREE;
    this.free.push(id);
    this.count--;
    this.live -= this.len[id]!;
    this.dead += this.len[id]!;
    // Backward-shift deletion: move up any later entry of the run whose home is at or before the hole.
    let hole = i;
    let j = (i + 1) & this.mask;
    for (;;) {
      const other = this.table[j]!;
      if (other === EMPTY) break;
      const home = this.hash[other]! & this.mask;
      if (((j - home) & this.mask) >= ((j - hole) & this.mask)) {
        this.table[hole] = other;
        hole = j;
      }
      j = (j + 1) & this.mask;
    }
    this.table[hole] = EMPTY;
    if (this.dead > CHUNK && this.dead > this.live) this.compact();
  }

  private rehash(size: number): void {
    this.table = new Int32Array(size).fill(EMPTY);
    this.mask = size - 1;
    for (let id = 0; id < this.top; id++) {
      if (this.loc[id] === FREE) continue;
      let i = this.hash[id]! & this.mask;
      while (this.table[i] !== EMPTY) i = (i + 1) & this.mask;
      this.table[i] = id;
    }
  }

  /** Copy the live keys into fresh chunks, so removed keys stop holding memory. Ids stay. */
  private compact(): void {
    const old = this.chunks;
    this.chunks = [];
    this.at = CHUNK;
    for (let id = 0; id < this.top; id++) {
      const l = this.loc[id]!;
      if (l === FREE) continue;
      const c = old[Math.floor(l / CHUNK)]!;
      const o = l % CHUNK;
      this.loc[id] = this.store(c.toString('latin1', o, o + this.len[id]!));
    }
    this.dead = 0;
  }

  /** Is `id` a path in the index (not a freed id)? */
  has(id: number): boolean {
    return id < this.top && this.loc[id] !== FREE;
  }

  /** The path numbered `id`. */
  pathOf(id: number): string {
    const l = this.loc[id]!;
    const o = l % CHUNK;
    return this.chunks[Math.floor(l / CHUNK)]!.toString('latin1', o, o + this.len[id]!);
  }

  /** Does the path numbered `id` start with `prefix`? Compares bytes in place. */
  startsWith(id: number, prefix: string): boolean {
    if (this.len[id]! < prefix.length) return false;
    const l = this.loc[id]!;
    const c = this.chunks[Math.floor(l / CHUNK)]!;
    const o = l % CHUNK;
    for (let i = 0; i < prefix.length; i++) if (c[o + i] !== prefix.charCodeAt(i)) return false;
    return true;
  }

  /** Every id in use, lowest first: with no removals, the order paths were added. */
  *ids(): Generator<number> {
    for (let id = 0; id < this.top; id++) if (this.loc[id] !== FREE) yield id;
  }
}

/** A map from path to number on a PathIndex: what a `Map<string, number>` did, outside the JS heap. */
export class PathMap {
  private readonly paths = new PathIndex();
  private values = new Float64Array(1024);

  get size(): number {
    return this.paths.size;
  }

  get(p: string): number | undefined {
    const id = this.paths.find(p);
    return id < 0 ? undefined : this.values[id];
  }

  has(p: string): boolean {
    return this.paths.find(p) >= 0;
  }

  set(p: string, v: number): void {
    const id = this.paths.add(p);
    this.values = ensureLength(this.values, id + 1);
    this.values[id] = v;
  }

  /** Remove every path that starts with `prefix`, handing each one's value to `each`. */
  deleteUnder(prefix: string, each: (v: number) => void): void {
    for (const id of this.paths.ids()) {
      if (!this.paths.startsWith(id, prefix)) continue;
      each(this.values[id]!);
      this.paths.removeId(id);
    }
  }

  /** Every path and its value; in the order they were added while nothing was deleted. */
  *entries(): Generator<[string, number]> {
    for (const id of this.paths.ids()) yield [this.paths.pathOf(id), this.values[id]!];
  }

  *keys(): Generator<string> {
    for (const id of this.paths.ids()) yield this.paths.pathOf(id);
  }
}
