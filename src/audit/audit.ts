/**
 * What an image ships but does not show (SPEC.md §15): every entry of every
 * layer that the merged tree does not have, with the layer that hid it and
 * why. The layers are read top first, each once, as src/rootfs/merge.ts does:
 * by the time a layer streams past, everything above it is in the HideIndex,
 * so an entry is known to be hidden when it arrives and its content can be
 * scanned for secrets right then, without a second read. Memory is bounded
 * by the number of paths (the index, and one layer's paths at a time), never
 * by bytes.
 *
 * A layer's own markers act only below it (SPEC.md §4), so its effects go into
 * the index when the layer ends. Within a layer, a later entry for a path
 * replaces an earlier one (X1): the earlier copy is shipped but hidden, by
 * its own layer. Such copies are rare and are only known afterwards, so the
 * layer is read a second time for them alone.
 */
import type { ContentEntry, Entry } from '../entry.js';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { ROOT, ancestors, display, isWithin } from '../paths.js';
import { PathMap } from '../path-index.js';
import { HIDES_BELOW, HIDES_DIR, HIDES_NONDIR, HideIndex, type HiddenReason, type Hider } from './hide-index.js';
import type { Finding } from './secret-rules.js';
import { DEFAULT_SCAN_BYTES, type SecretMatcher, scanBody } from './secret-scan.js';

export type { HiddenReason } from './hide-index.js';

export interface AuditSource {
  /** The image's own index, 0 = bottom. */
  index: number;
  /** Names the layer in messages. */
  what: string;
  /** A fresh stream of the layer's entries; called a second time only for same-layer replacements. */
  entries(): AsyncIterable<Entry>;
}

export interface HiddenItem {
  /** Layer path (byte string, src/paths.ts). */
  path: string;
  layer: number;
  type: ContentEntry['kind'];
  /** Bytes of content: a file's size; 0 for everything else (a hardlink's bytes count at its target). */
  size: number;
  mode: number;
  reason: HiddenReason;
  hiddenBy: number;
  /** A symlink's or hardlink's target. */
  target?: string;
  secrets: Finding[];
  /** A hidden file whose content still shows through a visible hardlink of its layer: not wasted. */
  visibleAs?: string;
  /** Order within the layer (content entries counted from 0). */
  seq: number;
}

export interface LayerStats {
  index: number;
  /** Content entries (markers not counted). */
  entries: number;
  whiteouts: number;
  opaque: number;
  /** Sum of the file sizes in the layer. */
  bytes: number;
  hidden: number;
  wastedBytes: number;
}

/** Whether and how a layer holds the scope path (recover's question). */
export interface Presence {
  layer: number;
  /** The layer's last entry there, or `dir` when only entries below it imply it. */
  kind: ContentEntry['kind'];
  implied: boolean;
  /** The nearest layer above that hides this copy. */
  hiddenBy?: Hider;
}

export interface AuditResult {
  /** Bottom first. */
  layers: LayerStats[];
  /** Bottom layer first, then in each layer's order. */
  hidden: HiddenItem[];
  wastedBytes: number;
  totalBytes: number;
  /** With `scope`: each layer that holds the scope path, bottom first. */
  presence: Presence[];
}

export interface AuditOptions {
  /** Secret rules; without them nothing is scanned or flagged. */
  secrets?: SecretMatcher;
  /** Bytes of each hidden file's content that are scanned (default 1 MiB). */
  scanBytes?: number;
  /** Only this path (normalised): its copies, what is below it, and what hides it. */
  scope?: string;
  onWarning?: WarningSink;
}

/** `local` value for a directory that only entries below it imply. */
const IMPLIED = -1;
/** Same-layer replacements of a directory by a non-directory, each a scan of the layer's paths. */
const MAX_REPLACEMENTS = 1000;

/** local values: seq * 2 + 1 for an explicit directory, seq * 2 for anything else. */
const isDirValue = (v: number) => v === IMPLIED || v % 2 === 1;
const seqOf = (v: number) => Math.floor(v / 2);

/** One layer's pass. */
class LayerPass {
  /** Every path the layer holds now, explicit or implied (outside the JS heap: a million paths, SPEC.md §10). */
  readonly local = new PathMap();
  /** Paths where a directory replaced a non-directory of this layer: that one hid a lower directory. */
  readonly wasNonDir = new Set<string>();
  readonly whiteouts: string[] = [];
  readonly opaque: string[] = [];
  /** Hidden copies, by seq. */
  readonly items = new Map<number, HiddenItem>();
  /** Copies that a later entry of the same layer replaced before anything was known: read again. */
  readonly late = new Set<number>();
  /** Hardlinks: seq → [path, inode seq]. */
  readonly links = new Map<number, [string, number]>();
  /** Content findings per inode seq, for the hidden hardlinks that share it. */
  readonly inodeSecrets = new Map<number, Finding[]>();
  /** The scope path's last explicit entry in this layer. */
  scopeKind: ContentEntry['kind'] | undefined;
  replacements = 0;
  readonly stats: LayerStats;

  constructor(readonly k: number) {
    this.stats = { index: k, entries: 0, whiteouts: 0, opaque: 0, bytes: 0, hidden: 0, wastedBytes: 0 };
  }

  /** Copy `seq` is replaced by a later entry of its own layer. */
  sameLayer(seq: number): void {
    const item = this.items.get(seq);
    if (item) {
      item.hiddenBy = this.k;
      item.reason = 'overwritten';
    } else this.late.add(seq);
  }

  /** A non-directory replaces the layer's own directory `p`: what the layer had below it is gone. */
  dropBelow(p: string, what: string): void {
    if (++this.replacements > MAX_REPLACEMENTS) {
      throw new WhiteoutError(what, `replaces more than ${MAX_REPLACEMENTS} of its own directories by non-directories; refusing such a malformed layer`, 'limit');
    }
    this.local.deleteUnder(`${p}/`, (v) => {
      if (v !== IMPLIED) this.sameLayer(seqOf(v));
    });
  }
}

export class Auditor {
  private readonly idx = new HideIndex();
  private readonly cap: number;
  private readonly stats: LayerStats[] = [];
  private readonly hidden: HiddenItem[][] = [];
  private readonly presence: Presence[] = [];

  constructor(
    private readonly layers: readonly AuditSource[],
    private readonly opts: AuditOptions = {},
  ) {
    HideIndex.checkLayerCount(layers.length);
    this.cap = opts.scanBytes ?? DEFAULT_SCAN_BYTES;
  }

  private related(p: string): boolean {
    const s = this.opts.scope;
    return s === undefined || isWithin(p, s) || isWithin(s, p);
  }

  async run(): Promise<AuditResult> {
    // Top first: the index then always answers for the layers above the one being read.
    for (let pos = this.layers.length - 1; pos >= 0; pos--) await this.layer(pos);
    const layers = this.stats.reverse();
    const hidden = this.hidden.reverse().flat();
    let wasted = 0;
    let total = 0;
    for (const l of layers) {
      wasted += l.wastedBytes;
      total += l.bytes;
    }
    return { layers, hidden, wastedBytes: wasted, totalBytes: total, presence: this.presence.reverse() };
  }

  private async layer(pos: number): Promise<void> {
    const src = this.layers[pos] as AuditSource;
    const st = new LayerPass(src.index);
    let seq = 0;
    for await (const e of src.entries()) {
      if (e.kind === 'whiteout' || e.kind === 'opaque') {
        if (e.kind === 'whiteout') st.stats.whiteouts++;
        else st.stats.opaque++;
        if (this.related(e.path)) (e.kind === 'whiteout' ? st.whiteouts : st.opaque).push(e.path);
        continue;
      }
      st.stats.entries++;
      if (e.kind === 'file') st.stats.bytes += e.size;
      const n = seq++;
      if (e.path === ROOT || !this.related(e.path)) continue;
      await this.content(st, e, n, src.what);
    }
    if (st.late.size > 0) await this.secondPass(st, src);
    this.endOfLayer(st);
    // The bottom layer hides nothing: no layer is read against it (a one-layer image of a million
    // paths kept a million index entries for nobody, SPEC.md §10).
    if (pos > 0) this.hideBelow(st);
  }

  private async content(st: LayerPass, e: ContentEntry, seq: number, what: string): Promise<void> {
    const p = e.path;
    const isDir = e.kind === 'dir';
    let inode = seq;
    if (e.kind === 'hardlink') {
      const t = st.local.get(e.target);
      if (t === undefined || isDirValue(t)) {
        // With a scope, a target outside it was never recorded: nothing wrong with the layer.
        if (this.related(e.target)) this.opts.onWarning?.(`${what}: hardlink '${display(p)}' → '${display(e.target)}': the target is not an earlier file of this layer`);
      } else inode = st.links.get(seqOf(t))?.[1] ?? seqOf(t);
      st.links.set(seq, [p, inode]);
    }
    // A later entry for a path replaces the layer's earlier one, unless both are directories (X1).
    const prev = st.local.get(p);
    if (prev !== undefined && !isDir) {
      if (prev !== IMPLIED && !isDirValue(prev)) st.sameLayer(seqOf(prev));
      else {
        if (prev !== IMPLIED) st.sameLayer(seqOf(prev));
        st.dropBelow(p, what);
      }
    } else if (prev !== undefined && prev !== IMPLIED && !isDirValue(prev)) {
      st.sameLayer(seqOf(prev));
      st.wasNonDir.add(p);
    }
    // The entry's parents are directories of this layer: over one of its own non-directories, a new one.
    for (const a of ancestors(p)) {
      if (a === ROOT) break;
      const v = st.local.get(a);
      if (v !== undefined && isDirValue(v)) break;
      if (v !== undefined) {
        st.sameLayer(seqOf(v));
        st.wasNonDir.add(a);
      }
      st.local.set(a, IMPLIED);
    }
    st.local.set(p, seq * 2 + (isDir ? 1 : 0));
    if (p === this.opts.scope) st.scopeKind = e.kind;

    const h = this.idx.hiderOf(p, isDir);
    if (!h) return;
    const item = this.item(e, st.k, seq, h);
    st.items.set(seq, item);
    await this.scan(st, e, item, inode);
  }

  private item(e: ContentEntry, layer: number, seq: number, h: Hider): HiddenItem {
    const item: HiddenItem = {
      path: e.path,
      layer,
      type: e.kind,
      size: e.kind === 'file' ? e.size : 0,
      mode: e.meta.mode,
      reason: h.reason,
      hiddenBy: h.layer,
      secrets: [],
      seq,
    };
    if (e.kind === 'symlink' || e.kind === 'hardlink') item.target = e.target;
    return item;
  }

  /** Secret rules on a hidden copy: its name, and for a file the first bytes of its content. */
  private async scan(st: LayerPass, e: ContentEntry, item: HiddenItem, inode: number): Promise<void> {
    const m = this.opts.secrets;
    if (!m || e.kind === 'dir') return;
    item.secrets.push(...m.byName(e.path));
    if (e.kind !== 'file' || e.size === 0) return;
    const rules = m.contentRulesFor(e.path);
    if (rules.length === 0) return;
    const found = (await scanBody(e.body, rules, this.cap)).map((rule) => ({ rule, match: 'content' as const }));
    item.secrets.push(...found);
    st.inodeSecrets.set(inode, found);
  }

  /** Read the layer again for the copies a later entry of the same layer replaced. */
  private async secondPass(st: LayerPass, src: AuditSource): Promise<void> {
    let seq = 0;
    for await (const e of src.entries()) {
      if (e.kind === 'whiteout' || e.kind === 'opaque') continue;
      const n = seq++;
      if (!st.late.has(n)) continue;
      const item = this.item(e, st.k, n, { layer: st.k, reason: 'overwritten' });
      st.items.set(n, item);
      await this.scan(st, e, item, st.links.get(n)?.[1] ?? n);
    }
  }

  private endOfLayer(st: LayerPass): void {
    const k = st.k;
    // A hidden file is not wasted while a visible hardlink of its layer still carries its content.
    for (const [seq, [path, inode]] of st.links) {
      const own = st.items.get(seq);
      if (own) {
        // A hidden link shares its inode's content, and what was found in it.
        const found = st.inodeSecrets.get(inode);
        if (found) own.secrets.push(...found.filter((f) => !own.secrets.some((g) => g.rule === f.rule)));
        continue;
      }
      const target = st.items.get(inode);
      if (target && target.visibleAs === undefined) target.visibleAs = path;
    }
    const items = [...st.items.values()].sort((a, b) => a.seq - b.seq);
    for (const it of items) {
      st.stats.hidden++;
      if (it.visibleAs === undefined) st.stats.wastedBytes += it.size;
    }
    this.hidden.push(items);
    this.stats.push(st.stats);

    const scope = this.opts.scope;
    if (scope !== undefined) {
      const v = st.local.get(scope);
      if (v !== undefined) {
        const kind = st.scopeKind ?? 'dir';
        const h = this.idx.hiderOf(scope, kind === 'dir');
        this.presence.push({ layer: k, kind, implied: v === IMPLIED, ...(h ? { hiddenBy: h } : {}) });
      }
    }
  }

  /** The layer's effects on the layers below it, into the index they are read against. */
  private hideBelow(st: LayerPass): void {
    const k = st.k;
    const over: Hider = { layer: k, reason: 'overwritten' };
    for (const d of st.opaque) {
      if (d === ROOT) continue;
      // The marker implies its directory and that directory's parents.
      for (const a of [d, ...ancestors(d)]) {
        if (a === ROOT || st.local.has(a)) break;
        st.local.set(a, IMPLIED);
      }
    }
    for (const [p, v] of st.local.entries()) {
      this.idx.set(p, HIDES_NONDIR, over);
      if (!isDirValue(v) || st.wasNonDir.has(p)) {
        this.idx.set(p, HIDES_DIR, over);
        this.idx.set(p, HIDES_BELOW, over);
      }
    }
    for (const d of st.opaque) this.idx.set(d, HIDES_BELOW, { layer: k, reason: 'opaque' });
    const wh: Hider = { layer: k, reason: 'whiteout' };
    for (const w of st.whiteouts) {
      this.idx.set(w, HIDES_NONDIR, wh);
      this.idx.set(w, HIDES_DIR, wh);
      this.idx.set(w, HIDES_BELOW, wh);
    }
  }
}

/** The audit of layers given bottom first (see Auditor). */
export function auditLayers(layers: readonly AuditSource[], opts: AuditOptions = {}): Promise<AuditResult> {
  return new Auditor(layers, opts).run();
}
