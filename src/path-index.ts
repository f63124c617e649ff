/**
 * A set of layer paths, each numbered by a small id, kept outside the JS heap.
 *
 * flatten, hidden and check keep one record for every path of an image. In a
 * `Map<string, number>` a path cost its string (~36 bytes for a 20-byte path),
 * a map entry (~28) and the heap's slack on top: 1,000,000 paths took flatten
 * past 200 MB (SPEC.md §10). Here the paths are a tree of names: a path is its
 * parent's id and its last name, so `usr/lib/x86_64-linux-gnu/libc.so.6` keeps
 * only `libc.so.6` in an arena of 1 MiB chunks (paths of a distro layer average
 * 58 bytes, their names 9), plus 20 bytes of typed arrays and its share of an
 * open-addressing table of ids, none of it scanned by the garbage collector.
 * Callers keep their own values in typed arrays indexed by id.
 *
 * A parent that was never added itself is a node all the same (not a member:
 * `find` does not return it, `size` does not count it) until its last child goes.
 * Paths are split at every `/`, so any string is a key, `''`, `a//b` and `a/` too.
 * Paths are byte strings (src/paths.ts: one char per byte), so a name is stored
 * as exactly its chars and compared without decoding.
 *
 * The hash is seeded at random per index, as V8 seeds its own: a layer is
 * untrusted input, and paths chosen to collide under a known hash would make
 * every lookup a scan of the table.
 */
import { randomBytes } from 'node:crypto';
import { WhiteoutError } from './errors.js';

const CHUNK = 1 << 20;
/** A name's location: chunk × CHUNK + offset; a name longer than a chunk gets a chunk of its own, at offset 0. */
const MAX_CHUNKS = 4095;
/** `loc` of an id that is free. */
const FREE = 0xffffffff;
const EMPTY = -1;
/** The parent of a path's first name. */
const NONE = -1;
/** In `kids`: the node is a path of the set, not only the parent of some. */
const MEMBER = 0x80000000;
const SLASH = 47;

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
  /** Per node: where its name is, its length, its hash, its parent's id, and its children's count with MEMBER. */
  private loc = new Uint32Array(1024);
  private len = new Uint32Array(1024);
  private hash = new Int32Array(1024);
  private parent = new Int32Array(1024);
  private kids = new Uint32Array(1024);
  /** Open addressing with linear probing: a node's id, or EMPTY. Never more than half full. */
  private table = new Int32Array(2048).fill(EMPTY);
  private mask = 2047;
  /** Ids 0 … top-1 have been handed out; the free ones wait in `free` for reuse. */
  private top = 0;
  private readonly free: number[] = [];
  private nodes = 0;
  private count = 0;
  /** Arena bytes of names since removed: reclaimed by `compact` once they outweigh the live ones. */
  private dead = 0;
  private live = 0;
  /**
   * The last path looked up, and the ids of its names as far as they were
   * found: the next path (mostly in the same directory, or an ancestor)
   * starts from the names they share. Cleared whenever a node is freed.
   */
  private lastKey = '';
  private lastIds = new Int32Array(64);
  private lastEnds = new Int32Array(64);
  private lastCount = 0;
  /** The last prefix `startsWith` was asked about and its directory's node (callers ask about one prefix for every id). */
  private prefixKey: string | undefined;
  private prefixDir = NONE;

  get size(): number {
    return this.count;
  }

  /** One past the highest id handed out: value arrays need this many places. */
  get idLimit(): number {
    return this.top;
  }

  /** The hash of name `p[s, e)` under `parent`. */
  private hashOf(parent: number, p: string, s: number, e: number): number {
    let h = Math.imul(this.seed ^ parent, 0x9e3779b1) ^ (e - s);
    for (let i = s; i < e; i++) h = Math.imul(h ^ p.charCodeAt(i), 0x01000193);
    // A final mix (murmur3's) so that the table's low bits depend on every char.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  private equals(id: number, parent: number, p: string, s: number, e: number): boolean {
    if (this.parent[id] !== parent || this.len[id] !== e - s) return false;
    const l = this.loc[id]!;
    const c = this.chunks[Math.floor(l / CHUNK)]!;
    const o = l % CHUNK - s;
    for (let i = s; i < e; i++) if (c[o + i] !== p.charCodeAt(i)) return false;
    return true;
  }

  /** The table position holding the node for name `p[s, e)` under `parent`, or the empty position where it would go. */
  private position(parent: number, p: string, s: number, e: number, h: number): number {
    let i = h & this.mask;
    for (;;) {
      const id = this.table[i]!;
      if (id === EMPTY || (this.hash[id] === h && this.equals(id, parent, p, s, e))) return i;
      i = (i + 1) & this.mask;
    }
  }

  /**
   * The node of `p`, made (with the parents it needs) when `make`; else -1
   * when there is none. A node need not be a member.
   */
  private node(p: string, make: boolean): number {
    // The root, asked between the paths of one directory, would make the next one start from scratch.
    if (p.length === 0) return this.child(NONE, p, 0, 0, make);
    // The names this path shares with the last one: each ends at the same place, before their first difference.
    const last = this.lastKey;
    const n = Math.min(p.length, last.length);
    let common = 0;
    while (common < n && p.charCodeAt(common) === last.charCodeAt(common)) common++;
    let k = 0;
    while (k < this.lastCount) {
      const e = this.lastEnds[k]!;
      if (e > common || (e < p.length && p.charCodeAt(e) !== SLASH)) break;
      k++;
    }
    let parent = k > 0 ? this.lastIds[k - 1]! : NONE;
    let s = k > 0 ? this.lastEnds[k - 1]! + 1 : 0;
    if (s > p.length) return parent;
    this.lastCount = k;
    this.lastKey = p;
    for (;;) {
      let e = p.indexOf('/', s);
      if (e < 0) e = p.length;
      const id = this.child(parent, p, s, e, make);
      if (id < 0) return -1;
      this.remember(id, e);
      if (e === p.length) return id;
      parent = id;
      s = e + 1;
    }
  }

  /** The node of name `p[s, e)` under `parent`, made when `make`; else -1 when there is none. */
  private child(parent: number, p: string, s: number, e: number, make: boolean): number {
    const h = this.hashOf(parent, p, s, e);
    const i = this.position(parent, p, s, e, h);
    const id = this.table[i]!;
    return id !== EMPTY || !make ? id : this.made(i, parent, p, s, e, h);
  }

  private remember(id: number, end: number): void {
    const k = this.lastCount++;
    if (k === this.lastIds.length) {
      this.lastIds = ensureLength(this.lastIds, k + 1);
      this.lastEnds = ensureLength(this.lastEnds, k + 1);
    }
    this.lastIds[k] = id;
    this.lastEnds[k] = end;
  }

  /**
   * Look up `p` and each of its ancestors but the root: returns how many of
   * them are nodes, root first. `lineageId(i)` is the id of the one of i + 1
   * names (a path of the set if `has` says so), `lineageEnd(i)` its length, so
   * the last is `p` itself when that is `p.length`. Valid until the next call.
   * One walk down the tree, where asking for each ancestor is a lookup each.
   */
  lineage(p: string): number {
    if (p.length === 0) return 0;
    this.node(p, false);
    // The remembered names are `p`'s as far as they were found, or a longer path's that `p` leads.
    let k = 0;
    while (k < this.lastCount && this.lastEnds[k]! <= p.length) k++;
    return k;
  }

  lineageId(i: number): number {
    return this.lastIds[i]!;
  }

  lineageEnd(i: number): number {
    return this.lastEnds[i]!;
  }

  /** A new node at table position `i`. */
  private made(i: number, parent: number, p: string, s: number, e: number, h: number): number {
    const id = this.free.pop() ?? this.top++;
    if (id >= this.loc.length) {
      this.loc = ensureLength(this.loc, id + 1);
      this.len = ensureLength(this.len, id + 1);
      this.hash = ensureLength(this.hash, id + 1);
      this.parent = ensureLength(this.parent, id + 1);
      this.kids = ensureLength(this.kids, id + 1);
    }
    this.loc[id] = this.store(p, s, e);
    this.len[id] = e - s;
    this.hash[id] = h;
    this.parent[id] = parent;
    this.kids[id] = 0;
    if (parent !== NONE) this.kids[parent]!++;
    this.table[i] = id;
    this.nodes++;
    // The directory `startsWith` remembers may exist now, or its freed id be another node's.
    this.prefixKey = undefined;
    this.live += e - s;
    if (this.nodes * 2 > this.mask + 1) this.rehash((this.mask + 1) * 2);
    return id;
  }

  /** The id of `p`, or -1. */
  find(p: string): number {
    const id = this.node(p, false);
    return id >= 0 && this.kids[id]! & MEMBER ? id : -1;
  }

  /** The id of `p`, added if it was not there. */
  add(p: string): number {
    const id = this.node(p, true);
    if (!(this.kids[id]! & MEMBER)) {
      this.kids[id]! |= MEMBER;
      this.count++;
    }
    return id;
  }

  /** Copy name `p[s, e)` into the arena; returns its location. */
  private store(p: string, s: number, e: number): number {
    const n = e - s;
    if (n > CHUNK - this.at || this.chunks.length === 0) {
      if (this.chunks.length >= MAX_CHUNKS) {
        throw new WhiteoutError('path index', `more than ${MAX_CHUNKS} MiB of path names`, 'limit');
      }
      this.chunks.push(Buffer.allocUnsafeSlow(Math.max(CHUNK, n)));
      this.at = 0;
    }
    const c = this.chunks.length - 1;
    const o = this.at;
    const chunk = this.chunks[c]!;
    if (n < 32) for (let i = 0; i < n; i++) chunk[o + i] = p.charCodeAt(s + i);
    else chunk.write(p.slice(s, e), o, 'latin1');
    // A name as long as a chunk or longer fills its chunk: the next name starts a new one.
    this.at = Math.min(CHUNK, o + n);
    return c * CHUNK + o;
  }

  /** Remove `p`; its id is handed out again later. */
  remove(p: string): void {
    const id = this.find(p);
    if (id >= 0) this.removeId(id);
  }

  /** Remove the path numbered `id` (an id in use). */
  removeId(id: number): void {
    if (!(this.kids[id]! & MEMBER)) return;
    this.kids[id]! &= ~MEMBER;
    this.count--;
    // A node stays while it is the parent of others; the last child of a parent that is no path takes it too.
    let n = id;
    while (n !== NONE && this.kids[n] === 0) {
      const up = this.parent[n]!;
      this.freeNode(n);
      if (up !== NONE) this.kids[up]!--;
      n = up;
    }
  }

  private freeNode(id: number): void {
    let i = this.hash[id]! & this.mask;
    while (this.table[i] !== id) i = (i + 1) & this.mask;
    this.loc[id] = FREE;
    this.free.push(id);
    this.nodes--;
    this.live -= this.len[id]!;
    this.dead += this.len[id]!;
    // Its id may be handed out again: the remembered lookup may name it.
    this.lastCount = 0;
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

  /** Copy the live names into fresh chunks, so removed ones stop holding memory. Ids stay. */
  private compact(): void {
    const old = this.chunks;
    this.chunks = [];
    this.at = CHUNK;
    for (let id = 0; id < this.top; id++) {
      const l = this.loc[id]!;
      if (l === FREE) continue;
      const c = old[Math.floor(l / CHUNK)]!;
      const o = l % CHUNK;
      const name = c.toString('latin1', o, o + this.len[id]!);
      this.loc[id] = this.store(name, 0, name.length);
    }
    this.dead = 0;
  }

  /** Is `id` a path in the index (not a freed id)? */
  has(id: number): boolean {
    return id < this.top && this.loc[id] !== FREE && (this.kids[id]! & MEMBER) !== 0;
  }

  private nameOf(id: number): string {
    const l = this.loc[id]!;
    const o = l % CHUNK;
    return this.chunks[Math.floor(l / CHUNK)]!.toString('latin1', o, o + this.len[id]!);
  }

  /** The path numbered `id`. */
  pathOf(id: number): string {
    let p = this.nameOf(id);
    for (let n = this.parent[id]!; n !== NONE; n = this.parent[n]!) p = `${this.nameOf(n)}/${p}`;
    return p;
  }

  /**
   * Does the path numbered `id` start with `prefix`? A prefix ending in `/`
   * (a directory's contents, the callers' case) is answered from the ids of
   * the path's parents, with no string made.
   */
  startsWith(id: number, prefix: string): boolean {
    if (prefix.length === 0) return true;
    if (prefix.charCodeAt(prefix.length - 1) !== SLASH) return this.pathOf(id).startsWith(prefix);
    if (prefix !== this.prefixKey) {
      this.prefixDir = this.node(prefix.slice(0, -1), false);
      this.prefixKey = prefix;
    }
    const dir = this.prefixDir;
    if (dir < 0) return false;
    for (let n = this.parent[id]!; n !== NONE; n = this.parent[n]!) if (n === dir) return true;
    return false;
  }

  /** Every id in use, lowest first. */
  *ids(): Generator<number> {
    for (let id = 0; id < this.top; id++) if (this.loc[id] !== FREE && this.kids[id]! & MEMBER) yield id;
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

  /** PathIndex.lineage: how many of `p`'s leading paths, root first, the walk found (`p` itself last, if `lineageEnd` is its length). */
  lineage(p: string): number {
    return this.paths.lineage(p);
  }

  /** The value of the found leading path `i`, if it is in the map. */
  lineageValue(i: number): number | undefined {
    const id = this.paths.lineageId(i);
    return this.paths.has(id) ? this.values[id] : undefined;
  }

  lineageEnd(i: number): number {
    return this.paths.lineageEnd(i);
  }

  /** Remove every path that starts with `prefix`, handing each one's value to `each`. */
  deleteUnder(prefix: string, each: (v: number) => void): void {
    for (const id of this.paths.ids()) {
      if (!this.paths.startsWith(id, prefix)) continue;
      each(this.values[id]!);
      this.paths.removeId(id);
    }
  }

  /** Every path and its value, lowest id first. */
  *entries(): Generator<[string, number]> {
    for (const id of this.paths.ids()) yield [this.paths.pathOf(id), this.values[id]!];
  }

  *keys(): Generator<string> {
    for (const id of this.paths.ids()) yield this.paths.pathOf(id);
  }
}
