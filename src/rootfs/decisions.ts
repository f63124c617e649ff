/**
 * What the merge knows about each path, one slot a path: what the layers
 * above decided about it (the layer that decided, what it made the path, two
 * flags) and, for the layer being read, what that layer holds there.
 *
 * The merge keeps a slot for every path of the image, so this is where its
 * memory goes. One map from path to slot and three typed arrays: a path costs
 * one map entry (~28 bytes) and 12 bytes of numbers. The decisions and the
 * layer's own view were two maps of their own: at 1,000,000 paths two 29 MB
 * tables, and two growing at once (SPEC.md §10).
 */

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
  private readonly slots = new Map<string, number>();
  private readonly free: number[] = [];
  private used = 0;
  /** Per slot: the packed decision, or NO_DECISION. */
  private decision = new Int32Array(1024);
  /** Per slot: the current layer's value, valid only while `owner` is the current layer's pass. */
  private local = new Int32Array(1024);
  private owner = new Uint32Array(1024);
  /** Numbers the layers' passes (never 0, the owner of no pass): a new one makes every value of the one before stale at once. */
  private pass = 1;
  /** Slots that hold only a layer value: swept once they are many (`endLayer`). */
  private undecided = 0;

  private make(p: string): number {
    let s = this.slots.get(p);
    if (s !== undefined) return s;
    s = this.free.pop() ?? this.used++;
    if (s >= this.decision.length) this.grow();
    this.decision[s] = NO_DECISION;
    this.owner[s] = 0;
    this.undecided++;
    this.slots.set(p, s);
    return s;
  }

  private grow(): void {
    const n = this.decision.length * 2;
    const d = new Int32Array(n);
    d.set(this.decision);
    this.decision = d;
    const l = new Int32Array(n);
    l.set(this.local);
    this.local = l;
    const o = new Uint32Array(n);
    o.set(this.owner);
    this.owner = o;
  }

  getDecision(p: string): number | undefined {
    const s = this.slots.get(p);
    if (s === undefined) return undefined;
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
    const s = this.slots.get(p);
    return s !== undefined && this.owner[s] === this.pass ? this.local[s] : undefined;
  }

  setLocal(p: string, v: number): void {
    const s = this.make(p);
    this.local[s] = v;
    this.owner[s] = this.pass;
  }

  /** Forget the current layer's values for every path that starts with `prefix` (a scan of every path). */
  dropLocalUnder(prefix: string): void {
    for (const [p, s] of this.slots) if (this.owner[s] === this.pass && p.startsWith(prefix)) this.owner[s] = 0;
  }

  /**
   * The layer's pass is over: its values are stale. Paths it held that no layer
   * decided (hidden by a layer above) are dropped once they are a quarter of the
   * table, so a stack of layers hidden by one above does not add up.
   */
  endLayer(): void {
    this.pass++;
    if (this.undecided < 4096 || this.undecided * 4 < this.slots.size) return;
    for (const [p, s] of this.slots) {
      if (this.decision[s] !== NO_DECISION) continue;
      this.slots.delete(p);
      this.free.push(s);
    }
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
