/**
 * What the layers above have decided about each path, for a top-down merge.
 * One number per path (the merge keeps one for every path of the image, so
 * this is where its memory goes): the layer that decided, what it made the
 * path, and two flags.
 */

export const DIR = 0;
export const NONDIR = 1;
/** Whited out: the path and everything below it are gone for the layers below. */
export const GONE = 2;
export type Kind = typeof DIR | typeof NONDIR | typeof GONE;

const SEALED = 4;
const PENDING = 8;

export interface Decision {
  layer: number;
  kind: Kind;
  /** A directory whose merge ends here: nothing below it comes from deeper layers (opaque, or a non-directory below it). */
  sealed: boolean;
  /** A directory no layer so far has an entry for: the first deeper directory entry gives its metadata. */
  pending: boolean;
}

export class Decisions {
  private readonly m = new Map<string, number>();
  /** Directories still waiting for metadata. */
  readonly pending = new Set<string>();

  get(p: string): Decision | undefined {
    const v = this.m.get(p);
    if (v === undefined) return undefined;
    return { layer: Math.floor(v / 16), kind: (v & 3) as Kind, sealed: (v & SEALED) !== 0, pending: (v & PENDING) !== 0 };
  }

  set(p: string, d: Decision): void {
    this.m.set(p, d.layer * 16 + d.kind + (d.sealed ? SEALED : 0) + (d.pending ? PENDING : 0));
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
