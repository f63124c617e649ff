/**
 * Limits on what one layer may make a reader do, so that no input, however
 * hostile, takes unbounded memory, time or disk (SPEC.md §Limits). Each has a
 * sane default and a CLI flag to raise it. No symlink-hop limit is needed:
 * whiteout never follows a symlink from a layer.
 */
import type { ContentEntry, Entry } from '../entry.js';
import { WhiteoutError } from '../errors.js';
import { ancestors, display, isWithin } from '../paths.js';
import { PathMap } from '../path-index.js';

export interface Limits {
  /** Largest PAX extended header or GNU long name, in bytes. */
  maxHeaderBytes: number;
  /** Longest path, in bytes (Linux PATH_MAX is 4096). */
  maxPathBytes: number;
  /** Deepest path, in components. */
  maxDepth: number;
  /** Most entries in one layer. */
  maxEntries: number;
  /** Largest uncompressed layer, in bytes (catches gzip and zstd bombs). */
  maxBytes: number;
}

export const defaultLimits: Limits = {
  maxHeaderBytes: 1 << 20,
  maxPathBytes: 4096,
  maxDepth: 1024,
  maxEntries: 10_000_000,
  maxBytes: 256 * 1024 ** 3,
};

export function resolveLimits(partial: Partial<Limits> = {}): Limits {
  return { ...defaultLimits, ...partial };
}

function over(what: string, why: string, flag: string): WhiteoutError {
  return new WhiteoutError(what, `${why} (raise it with ${flag})`, 'limit');
}

/**
 * A checker to call on every entry of a layer as it streams past. A function,
 * not a stage of the pipeline: one more async generator hop per entry was
 * measurable on layers of small entries (SPEC.md §10).
 */
export function entryLimiter(limits: Limits, what: string): (e: Entry) => void {
  let count = 0;
  return (e) => {
    if (++count > limits.maxEntries) throw over(what, `more than ${limits.maxEntries} entries`, '--max-entries');
    // Paths are byte strings, so length is bytes.
    if (e.path.length > limits.maxPathBytes) throw over(what, `a path of ${e.path.length} bytes is longer than ${limits.maxPathBytes}`, '--max-path');
    let depth = 1;
    for (let i = e.path.indexOf('/'); i >= 0; i = e.path.indexOf('/', i + 1)) depth++;
    if (depth > limits.maxDepth) throw over(what, `a path ${depth} levels deep is deeper than ${limits.maxDepth}`, '--max-depth');
  };
}

/** Check every entry of a layer against the limits as it streams past. */
export async function* checkEntryLimits(entries: AsyncIterable<Entry>, limits: Limits, what: string): AsyncGenerator<Entry> {
  const check = entryLimiter(limits, what);
  for await (const e of entries) {
    check(e);
    yield e;
  }
}

/** Stop an uncompressed stream that grows past the limit. */
export async function* checkByteLimit(source: AsyncIterable<Buffer>, limits: Limits, what: string): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > limits.maxBytes) throw over(what, `uncompressed layer is larger than ${limits.maxBytes} bytes`, '--max-bytes');
    yield chunk;
  }
}

/**
 * A tar-to-tar converter writes no files, so nothing on disk catches a hard link
 * that points nowhere; this does (SPEC.md §8). The target must be a
 * non-directory written earlier in the same layer and still there.
 *
 * What it keeps is one bit a path (a non-directory now), in a PathMap it may
 * share with a writer that indexes the same paths (writeOverlayTar): one index
 * of a million paths, not two.
 */
export class HardlinkCheck {
  constructor(
    private readonly what: string,
    private readonly kinds: PathMap = new PathMap(),
    private readonly nondirBit = 1,
  ) {}

  private isNondir(p: string): boolean {
    return ((this.kinds.get(p) ?? 0) & this.nondirBit) !== 0;
  }

  private mark(p: string, nondir: boolean): void {
    const v = this.kinds.get(p);
    const next = nondir ? (v ?? 0) | this.nondirBit : (v ?? 0) & ~this.nondirBit;
    // Most ancestors are directories already: no second lookup to store the same value.
    if (next !== v) this.kinds.set(p, next);
  }

  /** Check a content entry's hard link (throws), then record the entry. */
  see(e: ContentEntry): void {
    if (e.kind === 'hardlink') {
      const t = e.target;
      const bad = (why: string) => new WhiteoutError(this.what, `hardlink '${display(e.path)}' → '${display(t)}': ${why}`, 'input');
      if (!this.isNondir(t) || isWithin(t, e.path)) throw bad('the target is not an earlier file of this layer');
      for (const a of ancestors(t)) if (this.isNondir(a)) throw bad('the target is not an earlier file of this layer');
    }
    // An entry's implied parents are directories from here on, whatever stood there before.
    for (const p of ancestors(e.path)) this.mark(p, false);
    this.mark(e.path, e.kind !== 'dir');
  }
}

/** Entries with every hard link checked (HardlinkCheck). */
export async function* checkHardlinks(entries: AsyncIterable<Entry>, what: string): AsyncGenerator<Entry> {
  const check = new HardlinkCheck(what);
  for await (const e of entries) {
    if (e.kind !== 'whiteout' && e.kind !== 'opaque') check.see(e);
    yield e;
  }
}
