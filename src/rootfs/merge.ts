/**
 * The merged root filesystem of a layer stack, as one stream of plain
 * entries, read top layer first in the manner of go-containerregistry's
 * `mutate.Extract`: an entry is emitted only if no higher layer shadows it,
 * so nothing is extracted anywhere first (SPEC.md §11).
 *
 * What "shadows" means is what the kernel's overlay mount of the layers shows:
 * - a non-directory or whiteout hides the path and its whole subtree below;
 * - a directory merges with a directory below, unless it is opaque, or a
 *   layer in between has a whiteout or a non-directory there (`.wh.X` + `X/`);
 * - a merged directory has the topmost entry's metadata; a directory no layer
 *   has an entry for (implied by an entry below it) takes the metadata of the
 *   directory it merges with below, or 0755 0:0 mtime 0 when there is none;
 * - within a layer, its own whiteouts and opaque markers apply only below it
 *   (SPEC.md §4), so they are folded in when the layer has been read.
 *
 * Hardlinks: a link whose target a higher layer replaced still has the
 * target's old content in the overlay (go-containerregistry#977). The link is
 * emitted as a copy of the target, further links to it point at that copy. The
 * content comes from the spool of hidden files when it kept every target the
 * layer needs, else from reading the layer a second time.
 */
import type { ContentEntry, DirEntry, Entry, Meta } from '../entry.js';
import { defaultMeta } from '../entry.js';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { planOpaque, planWhiteouts, type PathKind } from '../layer/rules.js';
import { ROOT, ancestors, display, isWithin } from '../paths.js';
import { DIR, type Decision, Decisions, GONE, type Kind, NONDIR, PathTable } from './decisions.js';
import type { HiddenSpool } from './spool.js';

export interface MergeLayer {
  /** Names the layer in messages. */
  what: string;
  /** A fresh stream of the layer's entries; called a second time only for hardlinks to hidden targets. */
  entries(): AsyncIterable<Entry>;
  /**
   * The same stream, for a reader that may stop before the end: the second
   * pass stops after the last entry it needs. Without it, the second pass reads
   * to the end, as only a whole read proves the layer (src/image/verify.ts provenPrefix).
   */
  prefix?(): AsyncIterable<Entry>;
}

export interface MergeOptions {
  /** Only this path (normalised byte string) and what lies below it, with the directories leading to it. */
  path?: string;
  onWarning?: WarningSink;
  /**
   * Per layer (bottom first), from findReplacedDirs: directories the layer
   * itself replaces by a non-directory after entries below them. Without it,
   * such a layer stops the merge with NeedsLookahead.
   */
  replaced?: readonly ReadonlyMap<string, number>[];
  /**
   * Keeps hidden non-directories during the first pass over a layer, so that
   * hardlinks to them need no second pass while its budget lasts (src/rootfs/spool.ts).
   */
  spool?: HiddenSpool;
}

/**
 * A layer holds entries below a directory and then, later, a non-directory at
 * that path (layer.md D2 forbids it; no file system diff makes it). The
 * entries below were deleted by the layer itself, but a single top-down pass
 * has emitted them already. Run again with `replaced` (findReplacedDirs).
 */
export class NeedsLookahead extends WhiteoutError {
  constructor(what: string, path: string) {
    super(what, `'${display(path)}' holds entries of this layer and is then replaced by a non-directory in the same layer; reading it right takes a second pass over the layer (write to a file or directory, not standard output)`, 'input');
  }
}

/**
 * One pass over a layer: each directory (explicit, or implied by entries
 * below it) that it replaces by a non-directory, with the number of the
 * (last) replacing entry. The directory's own entry and the entries below it
 * with smaller numbers were deleted by the layer itself.
 */
export async function findReplacedDirs(layer: MergeLayer): Promise<Map<string, number>> {
  const dirs = new Set<string>();
  const out = new Map<string, number>();
  let seq = 0;
  for await (const e of layer.entries()) {
    if (e.kind === 'whiteout' || e.kind === 'opaque') continue;
    const n = seq++;
    if (e.kind !== 'dir' && dirs.has(e.path)) out.set(e.path, n);
    if (e.kind === 'dir') dirs.add(e.path);
    for (const a of ancestors(e.path)) {
      if (a === ROOT || dirs.has(a)) break;
      dirs.add(a);
    }
  }
  return out;
}

const MAX_REPLACEMENTS = 1000;

/** `local` value for a directory; non-directories hold the sequence number of their inode's entry. */
const LOCAL_DIR = -1;

function impliedDir(path: string): DirEntry {
  return { kind: 'dir', path, meta: defaultMeta() };
}

function kindOfEntry(e: ContentEntry): Kind {
  return e.kind === 'dir' ? DIR : NONDIR;
}

/** A set of small non-negative integers (entry numbers, in order), a bit each. */
class BitSet {
  private bits = new Uint8Array(1024);

  add(n: number): void {
    const i = n >>> 3;
    if (i >= this.bits.length) {
      const grown = new Uint8Array(Math.max(this.bits.length * 2, i + 1));
      grown.set(this.bits);
      this.bits = grown;
    }
    this.bits[i]! |= 1 << (n & 7);
  }

  has(n: number): boolean {
    const i = n >>> 3;
    return i < this.bits.length && (this.bits[i]! & (1 << (n & 7))) !== 0;
  }
}

/** One layer's pass: what it holds, and what waits for its end. */
class LayerState {
  readonly whiteouts: string[] = [];
  readonly opaque = new Set<string>();
  /** Non-directories this layer has under a directory of a layer above: that merge ends here. */
  readonly underDirs: string[] = [];
  /** Entry numbers of inodes emitted under their own path (a bit each: a Set cost 17 bytes an entry). */
  readonly emitted = new BitSet();
  /** Inode entry number → the path of its entry, for inodes that hardlinks point at. */
  readonly inodePath = new Map<number, string>();
  /** Inode → hardlink paths emitted for it (they carry it too). */
  readonly linked = new Map<number, string[]>();
  /** Inode → visible links that wait for the second pass. */
  readonly deferred = new Map<number, string[]>();
  /** Directories of layers above whose metadata this layer's entry gave. */
  readonly gaveMeta = new Set<string>();
  /** Directories the layer replaced by a non-directory so far. */
  replacements = 0;
  /** Directories with visible entries of this layer below them. */
  readonly holding = new Set<string>();

  /** `table` keeps every path the layer holds, explicit or implied: LOCAL_DIR, or the inode's entry number. */
  constructor(
    readonly replaced: ReadonlyMap<string, number> | undefined,
    private readonly table: PathTable,
  ) {
    table.beginLayer();
  }

  /** What the layer holds at `p`: LOCAL_DIR, an inode's entry number, or nothing. */
  local(p: string): number | undefined {
    return this.table.getLocal(p);
  }

  /** Deleted by a later entry of the same layer (see findReplacedDirs)? */
  dead(p: string, seq: number): boolean {
    if (!this.replaced || this.replaced.size === 0) return false;
    if ((this.replaced.get(p) ?? -1) > seq) return true;
    for (const a of ancestors(p)) if ((this.replaced.get(a) ?? -1) > seq) return true;
    return false;
  }

  kindOf(p: string): PathKind {
    const v = this.local(p);
    return v === undefined ? 'absent' : v === LOCAL_DIR ? 'dir' : 'nondir';
  }

  /** An output path that still holds this inode, if any: the layer may have replaced some since. */
  carrierOf(inode: number): string | undefined {
    const own = this.emitted.has(inode) ? this.inodePath.get(inode) : undefined;
    for (const c of [own, ...(this.linked.get(inode) ?? [])]) if (c !== undefined && this.local(c) === inode) return c;
    return undefined;
  }

  addLinked(inode: number, p: string): void {
    const l = this.linked.get(inode);
    if (l) l.push(p);
    else this.linked.set(inode, [p]);
  }

  /** Record `p` and its implied parents. A non-directory over a directory deletes what the layer had below it. */
  hold(p: string, value: number): void {
    if (value !== LOCAL_DIR && this.local(p) === LOCAL_DIR) this.table.dropLocalUnder(`${p}/`);
    this.table.setLocal(p, value);
    for (const a of ancestors(p)) {
      if (a === ROOT || this.local(a) === LOCAL_DIR) break;
      this.table.setLocal(a, LOCAL_DIR);
    }
  }
}

export class Merger {
  private readonly paths = new PathTable();
  private readonly dec = new Decisions(this.paths);
  private readonly warn: WarningSink;
  private readonly scope: string | undefined;
  private readonly replaced: MergeOptions['replaced'];
  private readonly spool: HiddenSpool | undefined;

  constructor(
    private readonly layers: readonly MergeLayer[],
    opts: MergeOptions = {},
  ) {
    this.warn = opts.onWarning ?? (() => {});
    this.scope = opts.path;
    this.replaced = opts.replaced;
    this.spool = opts.spool;
    // The root sits above every layer: only its metadata comes from them.
    this.dec.set(ROOT, { layer: layers.length, kind: DIR, sealed: false, pending: true });
  }

  private inScope(p: string, kind: ContentEntry['kind']): boolean {
    const s = this.scope;
    if (s === undefined || isWithin(p, s)) return true;
    return kind === 'dir' && isWithin(s, p);
  }

  /** The shallowest ancestor of `p` that a layer above `k` made a non-directory, whited out, or sealed. */
  private blocker(p: string, k: number): string | undefined {
    let found: string | undefined;
    for (const a of ancestors(p)) {
      const d = this.dec.get(a);
      if (!d || d.layer <= k) continue;
      if (d.kind !== DIR || d.sealed) found = a;
    }
    return found;
  }

  private blockedAbove(p: string, k: number): boolean {
    return this.blocker(p, k) !== undefined;
  }

  async *entries(): AsyncGenerator<ContentEntry> {
    for (let k = this.layers.length - 1; k >= 0; k--) yield* this.layer(k);
    // Directories no layer had an entry for, and a root no layer set: the defaults, parents first.
    for (const p of [...this.dec.pending].sort()) {
      const d = impliedDir(p);
      if (this.inScope(p, 'dir')) yield d;
    }
    if (this.scope !== undefined) {
      const d = this.dec.get(this.scope);
      if (!d || d.kind === GONE) throw new WhiteoutError('--path', `/${display(this.scope)} is not in the image`, 'input');
    }
  }

  private async *layer(k: number): AsyncGenerator<ContentEntry> {
    const layer = this.layers[k] as MergeLayer;
    const st = new LayerState(this.replaced?.[k], this.paths);
    let seq = 0;
    for await (const e of layer.entries()) {
      if (e.kind === 'whiteout') {
        st.whiteouts.push(e.path);
        continue;
      }
      if (e.kind === 'opaque') {
        st.opaque.add(e.path);
        continue;
      }
      const inode = seq++;
      yield* this.content(k, st, e, inode, layer.what);
      // Not shown: a later link of this layer may still need it. Its body can be read only now.
      if (this.spool && e.kind !== 'dir' && e.kind !== 'hardlink' && !st.emitted.has(inode)) {
        const reading = this.spool.keep(k, inode, e);
        if (reading) await reading;
      }
    }
    yield* this.endOfLayer(k, st, layer.what);
    try {
      if (st.deferred.size > 0) yield* this.secondPass(k, st, layer);
    } finally {
      this.spool?.dropLayer(k);
      this.paths.endLayer();
    }
  }

  private async *content(k: number, st: LayerState, e: ContentEntry, seq: number, what: string): AsyncGenerator<ContentEntry> {
    const p = e.path;
    let inode = seq;
    if (e.kind === 'hardlink') {
      const bad = (why: string) => new WhiteoutError(what, `hardlink '${display(p)}' → '${display(e.target)}': ${why}`, 'input');
      if (e.target === p) throw bad('links to itself');
      if (isWithin(e.target, p)) throw bad('the link would replace the directory that holds its own target');
      const t = st.local(e.target);
      if (t === undefined) throw bad('the target is not in this layer');
      if (t === LOCAL_DIR) throw bad('the target is a directory');
      inode = t;
      if (!st.inodePath.has(inode)) st.inodePath.set(inode, e.target);
    }
    // A non-directory over the layer's own directory deletes what the layer had below it so far.
    const replacesOwnDir = e.kind !== 'dir' && st.local(p) === LOCAL_DIR;
    // Each costs a scan of what the layer holds; no real layer has any (layer.md D2), so a few are plenty.
    if (replacesOwnDir && ++st.replacements > MAX_REPLACEMENTS) {
      throw new WhiteoutError(what, `replaces more than ${MAX_REPLACEMENTS} of its own directories by non-directories; refusing such a malformed layer`, 'limit');
    }
    st.hold(p, e.kind === 'dir' ? LOCAL_DIR : inode);

    if (st.dead(p, seq)) return;
    if (replacesOwnDir) this.dec.dropPendingBelow(p, k);
    // The entry's parents are directories of this layer, where no layer above decided them (even
    // when a layer above hides the entry: a whiteout of it, or of a parent, leaves the parents above).
    const blocker = this.blocker(p, k);
    yield* this.parentsOf(blocker ?? p, k, what);
    if (blocker !== undefined) return;
    // The layer makes a non-directory of a directory it emitted entries in: those must not show.
    if (e.kind !== 'dir' && st.holding.has(p)) throw new NeedsLookahead(what, p);

    const d = this.dec.get(p);
    if (d && d.layer > k) {
      // A layer above has this path. Directory over directory merges: this entry
      // only gives the metadata, if the one above had none of its own (a root
      // made opaque above still takes its metadata from below).
      if (d.kind !== DIR) return;
      if (e.kind === 'dir') {
        // A second entry for it in this layer replaces the first one's attributes (layer.md X1).
        if (d.pending || st.gaveMeta.has(p)) {
          this.dec.resolve(p);
          st.gaveMeta.add(p);
          this.hold(st, p, true);
          if (this.inScope(p, 'dir')) yield e;
        }
      } else if (p !== ROOT) st.underDirs.push(p);
      return;
    }

    this.hold(st, p, false);
    // A directory over the layer's own non-directory is fresh too: it does not merge with the layers below.
    const prev = this.dec.get(p);
    const fresh = e.kind === 'dir' && prev !== undefined && prev.layer === k && (prev.kind === NONDIR || prev.sealed);
    this.dec.set(p, { layer: k, kind: kindOfEntry(e), sealed: fresh, pending: false });
    if (!this.inScope(p, e.kind)) return;

    if (e.kind === 'symlink' && e.target === '') {
      throw new WhiteoutError(what, `symlink '${display(p)}' has an empty target, which no Linux file system can hold`, 'unrepresentable');
    }
    if (e.kind === 'char' && e.major === 0 && e.minor === 0) {
      // What flatten writes is what an overlay mount shows, and no mount can show this (§6, §5.1).
      throw new WhiteoutError(what, `'${display(p)}' is a character device 0/0, which overlayfs reads as a whiteout; no overlay mount can show it`, 'unrepresentable');
    }
    if (e.kind !== 'hardlink') {
      if (e.kind !== 'dir') st.emitted.add(seq);
      yield e;
      return;
    }
    const carrier = st.carrierOf(inode);
    if (carrier !== undefined) {
      st.addLinked(inode, p);
      yield { ...e, target: carrier };
      return;
    }
    // The target is hidden (or out of scope): its content comes in the second pass.
    const waiting = st.deferred.get(inode);
    if (waiting) waiting.push(p);
    else st.deferred.set(inode, [p]);
  }

  /** This layer shows something at `p` (and `p` itself, when `self`): a later non-directory there must not. */
  private hold(st: LayerState, p: string, self: boolean): void {
    if (self) st.holding.add(p);
    for (const a of ancestors(p)) {
      if (a === ROOT || st.holding.has(a)) break;
      st.holding.add(a);
    }
  }

  /** Make the undecided parents of `p` directories of layer `k` (metadata still to come from below). */
  private *parentsOf(p: string, k: number, what: string): Generator<ContentEntry> {
    for (const a of ancestors(p)) {
      const da = this.dec.get(a);
      if (da && !(da.layer === k && da.kind !== DIR)) break;
      if (da) {
        // The layer's own non-directory had replaced whatever was below; the directory that
        // replaces it in turn is a fresh one, merging with nothing (0755 0:0 mtime 0).
        this.warn(`${what}: '${display(a)}' is replaced by a directory that a later entry of the same layer needs`);
        this.dec.set(a, { layer: k, kind: DIR, sealed: true, pending: false });
        if (this.inScope(a, 'dir')) yield impliedDir(a);
        continue;
      }
      this.dec.set(a, { layer: k, kind: DIR, sealed: false, pending: true });
    }
  }

  /** Fold the layer's own whiteouts and opaque markers in: they act on the layers below. */
  private async *endOfLayer(k: number, st: LayerState, what: string): AsyncGenerator<ContentEntry> {
    const kindOf = (p: string) => st.kindOf(p);
    // Opaque markers apply first (layer.md OP3): one at or below a non-directory the layer adds is undone by it.
    const kept = new Set((await planOpaque(st.opaque, kindOf)).kept);
    for (const d of kept) if (d !== ROOT) st.hold(d, LOCAL_DIR);
    const plan = await planWhiteouts(st.whiteouts, kept, kindOf);
    // Which markers the layers above leave visible is decided before this layer's own take effect.
    const fresh = new Set(plan.madeOpaque);
    const opaque = [...new Set([...kept, ...fresh])].sort().map((d) => ({ d, blocker: d === ROOT ? undefined : this.blocker(d, k) }));
    const whiteouts = plan.whiteouts.filter((w) => !this.blockedAbove(w, k));

    // A non-directory under a directory from above ends that directory's merge, even if the
    // layer then made it a directory again (a fresh one: the non-directory had deleted the old).
    for (const p of st.underDirs) yield* this.seal(p);

    // An opaque directory keeps its own metadata from below (only its children go); one the
    // layer whites out and makes again (`.wh.X` + `X/…`) is new: nothing of the old one remains.
    for (const { d, blocker } of opaque) {
      if (d === ROOT) {
        const r = this.dec.get(ROOT) as Decision;
        this.dec.set(ROOT, { ...r, sealed: true });
        continue;
      }
      // The marker implies its directory, and so its parents, like any entry.
      yield* this.parentsOf(blocker ?? d, k, what);
      if (blocker !== undefined) continue;
      const dd = this.dec.get(d);
      if (dd === undefined) {
        // Only the marker names this directory: it shows, empty of anything below.
        this.dec.set(d, { layer: k, kind: DIR, sealed: true, pending: !fresh.has(d) });
        if (fresh.has(d) && this.inScope(d, 'dir')) yield impliedDir(d);
      } else if (fresh.has(d)) yield* this.seal(d);
      else if (dd.kind === DIR) this.dec.set(d, { ...dd, sealed: true });
    }

    for (const w of whiteouts) {
      const dw = this.dec.get(w);
      if (dw === undefined) this.dec.set(w, { layer: k, kind: GONE, sealed: false, pending: false });
      else yield* this.seal(w); // `.wh.X` under a directory X from above: X keeps nothing from below
    }
  }

  /** End the merge of directory `p`; if it still had no metadata, it never will: the default. */
  private *seal(p: string): Generator<ContentEntry> {
    if (this.dec.seal(p) && this.inScope(p, 'dir')) yield impliedDir(p);
  }

  /** The inodes that visible hardlinks need and no emitted path carries: from the spool, else from reading the layer again. */
  private async *secondPass(k: number, st: LayerState, layer: MergeLayer): AsyncGenerator<ContentEntry> {
    // Inode → its links still showing: links the layer itself replaced later (by a directory,
    // or another file) are not this inode any more. Inodes are entry numbers, in order.
    const needed = new Map<number, [string, ...string[]]>();
    for (const inode of [...st.deferred.keys()].sort((a, b) => a - b)) {
      const links = (st.deferred.get(inode) as string[]).filter((l) => st.local(l) === inode);
      if (links.length > 0) needed.set(inode, links as [string, ...string[]]);
    }
    if (needed.size === 0) return;
    const spool = this.spool;
    if (spool && [...needed.keys()].every((inode) => spool.has(k, inode))) {
      for (const [inode, links] of needed) yield* copiesOf(spool.entry(k, inode, links[0]) as ContentEntry, links);
      return;
    }
    // Past the highest inode waited for, the layer has nothing more for this pass.
    const last = Math.max(...needed.keys());
    // Only a prefix read may stop early and still have its bytes proven.
    const canStop = layer.prefix !== undefined;
    let seq = 0;
    for await (const e of canStop ? layer.prefix!() : layer.entries()) {
      if (e.kind === 'whiteout' || e.kind === 'opaque') continue;
      const inode = seq++;
      const links = needed.get(inode);
      if (links && e.kind !== 'dir' && e.kind !== 'hardlink') yield* copiesOf({ ...e, path: links[0] }, links);
      if (canStop && inode >= last) break;
    }
  }
}

/** A hidden inode shown at its first visible link (`e`, already at that path); the other links point at it. */
function* copiesOf(e: ContentEntry, links: readonly [string, ...string[]]): Generator<ContentEntry> {
  yield e;
  const meta: Meta = e.meta;
  for (const l of links.slice(1)) yield { kind: 'hardlink', path: l, meta, target: links[0] };
}

/** The merged root filesystem of `layers` (bottom first) as a stream of plain entries. */
export function mergeLayers(layers: readonly MergeLayer[], opts: MergeOptions = {}): AsyncGenerator<ContentEntry> {
  return new Merger(layers, opts).entries();
}
