/**
 * What the merge knows about each path, one slot a path: what the layers
 * above decided about it (the layer that decided, what it made the path, two
 * flags) and, for the layer being read, what that layer holds there.
 *
 * The merge keeps a slot for every path of the image, so this is where its
 * memory goes. A PathIndex numbers the paths outside the JS heap and three
 * typed arrays hold the values: a path costs its bytes, ~24 bytes of index and
 * 12 of numbers. The decisions and the layer's own view were two maps of their
 * own, then one `Map<string, number>` (SPEC.md §10).
 */
import { PathIndex, ensureLength } from '../path-index.js';

export const DIR = 0;
export const NONDIR = 1;
/** Whited out: the path and everything below it are gone for the layers below. */
export const GONE = 2;
export type Kind = typeof DIR | typeof NONDIR | typeof GONE;

const SEALED = 4;
const PENDING = 8;
const NO_DECISION = -1;

export interface Decision {
  layer: number;
  kind: Kind;
  /** A directory whose merge ends here: nothing below it comes from deeper layers (opaque, or a non-directory below it). */
  sealed: boolean;
  /** A directory no layer so far has an entry for: the first deeper directory entry gives its metadata. */
  pending: boolean;
}

export class PathTable {
  private readonly paths = new PathIndex();
  /** Per id: the packed decision, or NO_DECISION. */
  private decision = new Int32Array(1024);
  /** Per id: the current layer's value, valid only while `owner` is the current layer's pass. */
  private local = new Int32Array(1024);
  private owner = new Uint32Array(1024);
  /** Numbers the layers' passes (never 0, the owner of no pass): a new one makes every value of the one before stale at once. */
  private pass = 1;
  /** Paths that hold only a layer value: swept once they are many (`endLayer`). */
  private undecided = 0;

  private make(p: string): number {
    const before = this.paths.size;
    const s = this.paths.add(p);
    if (this.paths.size === before) return s;
    if (s >= this.decision.length) {
      this.decision = ensureLength(this.decision, s + 1);
      this.local = ensureLength(this.local, s + 1);
      this.owner = ensureLength(this.owner, s + 1);
    }
    this.decision[s] = NO_DECISION;
    this.owner[s] = 0;
    this.undecided++;
    return s;
  }

  getDecision(p: string): number | undefined {
    const s = this.paths.find(p);
    if (s < 0) return undefined;
    const v = this.decision[s]!;
    return v === NO_DECISION ? undefined : v;
  }

  setDecision(p: string, v: number): void {
    const s = this.make(p);
    if (this.decision[s] === NO_DECISION) this.undecided--;
    this.decision[s] = v;
  }

  /** A new layer's pass begins: no path holds a value of it yet. */
  beginLayer(): void {
    this.pass++;
  }

  /** The current layer's value at `p`, if it set one. */
  getLocal(p: string): number | undefined {
    const s = this.paths.find(p);
    return s >= 0 && this.owner[s] === this.pass ? this.local[s] : undefined;
  }

  setLocal(p: string, v: number): void {
    const s = this.make(p);
    this.local[s] = v;
    this.owner[s] = this.pass;
  }

  /** Forget the current layer's values for every path that starts with `prefix` (a scan of every path). */
  dropLocalUnder(prefix: string): void {
    for (const s of this.paths.ids()) if (this.owner[s] === this.pass && this.paths.startsWith(s, prefix)) this.owner[s] = 0;
  }

  /**
   * The layer's pass is over: its values are stale. Paths it held that no layer
   * decided (hidden by a layer above) are dropped once they are a quarter of the
   * table, so a stack of layers hidden by one above does not add up.
   */
  endLayer(): void {
    this.pass++;
    if (this.undecided < 4096 || this.undecided * 4 < this.paths.size) return;
    for (const s of this.paths.ids()) if (this.decision[s] === NO_DECISION) this.paths.removeId(s);
    this.undecided = 0;
  }
}

/** The decisions of the layers above, over the paths of a PathTable. */
export class Decisions {
  /** Directories still waiting for metadata. */
  readonly pending = new Set<string>();

  constructor(private readonly table: PathTable) {}

  get(p: string): Decision | undefined {
    const v = this.table.getDecision(p);
    if (v === undefined) return undefined;
    return { layer: Math.floor(v / 16), kind: (v & 3) as Kind, sealed: (v & SEALED) !== 0, pending: (v & PENDING) !== 0 };
  }

  set(p: string, d: Decision): void {
    this.table.setDecision(p, d.layer * 16 + d.kind + (d.sealed ? SEALED : 0) + (d.pending ? PENDING : 0));
    if (d.pending) this.pending.add(p);
    else this.pending.delete(p);
  }

  /** The merge of directory `p` ends here; returns true if it was still waiting for metadata (it gets the default now). */
  seal(p: string): boolean {
    const d = this.get(p);
    if (!d || d.kind !== DIR) return false;
    this.set(p, { ...d, sealed: true, pending: false });
    return d.pending;
  }

  /** Layer `layer` replaced directory `p` by a non-directory: what it implied below is gone. */
  dropPendingBelow(p: string, layer: number): void {
    const prefix = `${p}/`;
    for (const q of this.pending) if (q.startsWith(prefix) && this.get(q)?.layer === layer) this.pending.delete(q);
  }

  /** `p` got its metadata from an entry. */
  resolve(p: string): void {
    const d = this.get(p);
    if (d?.pending) this.set(p, { ...d, pending: false });
  }
}
