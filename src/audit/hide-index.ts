/**
 * What the layers above have done to each path, for a top-down audit: for a
 * path, the lowest layer above that hides a non-directory there, the lowest
 * that hides a directory there, and the lowest that hides everything below
 * it, each with its reason. Reading the layers top first, a later write is
 * always a lower layer, so each slot simply keeps the last one written — the
 * nearest hider, which is the one a hidden entry reports (SPEC.md §15).
 *
 * Memory is one number per path of the image: three 16-bit slots packed in a
 * double (48 bits, exact), `(layer + 1) * 4 + reason` each, 0 for none, in a
 * PathMap (outside the JS heap).
 */
import { WhiteoutError } from '../errors.js';
import { PathMap } from '../path-index.js';
import { ROOT } from '../paths.js';

export type HiddenReason = 'whiteout' | 'opaque' | 'overwritten';

/** Lower codes win a tie within one layer: a deletion says more than a replacement. */
const REASON_CODE: Record<HiddenReason, number> = { whiteout: 1, opaque: 2, overwritten: 3 };
const REASONS: readonly HiddenReason[] = ['whiteout', 'whiteout', 'opaque', 'overwritten'];

/** The slots of a path. */
export const HIDES_NONDIR = 0;
export const HIDES_DIR = 1;
export const HIDES_BELOW = 2;
export type Slot = typeof HIDES_NONDIR | typeof HIDES_DIR | typeof HIDES_BELOW;

const SLOT = 65536;
/** Layer indices that fit a slot: (layer + 1) * 4 + 3 < 65536. */
export const MAX_LAYERS = 16382;

export interface Hider {
  layer: number;
  reason: HiddenReason;
}

function encode(h: Hider): number {
  return (h.layer + 1) * 4 + REASON_CODE[h.reason];
}

function decode(v: number): Hider | undefined {
  if (v === 0) return undefined;
  return { layer: Math.floor(v / 4) - 1, reason: REASONS[v % 4] as HiddenReason };
}

function slotOf(packed: number, slot: Slot): number {
  return Math.floor(packed / SLOT ** slot) % SLOT;
}

/** The better of two encoded hiders: the lower layer, then the stronger reason. */
function better(a: number, b: number): number {
  if (a === 0) return b;
  if (b === 0) return a;
  return Math.min(a, b);
}

export class HideIndex {
  private readonly m = new PathMap();

  private get(p: string): number {
    return this.m.get(p) ?? 0;
  }

  static checkLayerCount(n: number): void {
    if (n > MAX_LAYERS) throw new WhiteoutError('image', `has ${n} layers; the audit handles at most ${MAX_LAYERS}`, 'limit');
  }

  /** Layer `h.layer` hides what `slot` says at `p` for every layer below it. */
  set(p: string, slot: Slot, h: Hider): void {
    const packed = this.get(p);
    const old = slotOf(packed, slot);
    const v = encode(h);
    // Same layer: keep the stronger reason; a lower layer always replaces.
    const next = old !== 0 && Math.floor(old / 4) === Math.floor(v / 4) ? Math.min(old, v) : v;
    this.m.set(p, packed + (next - old) * SLOT ** slot);
  }

  /** The nearest layer above that hides a `dir` (or non-directory) entry at `p`, if any. */
  hiderOf(p: string, dir: boolean): Hider | undefined {
    if (p === ROOT) return decode(slotOf(this.get(p), dir ? HIDES_DIR : HIDES_NONDIR));
    // One walk down the path's names: each ancestor (and the path) the index holds, root first.
    let best = slotOf(this.get(ROOT), HIDES_BELOW);
    const n = this.m.lineage(p);
    for (let i = 0; i < n; i++) {
      const v = this.m.lineageValue(i) ?? 0;
      best = better(best, slotOf(v, this.m.lineageEnd(i) === p.length ? (dir ? HIDES_DIR : HIDES_NONDIR) : HIDES_BELOW));
    }
    return decode(best);
  }

  get size(): number {
    return this.m.size;
  }
}
