/**
 * One tar layer, linted at the level of its raw headers (SPEC.md §16). Unlike
 * the layer reader, nothing here throws on a bad entry: every entry is looked
 * at, every problem becomes a finding, and the pass goes on to the end of the
 * tar. Memory is one small record per path of the layer (kind and offset).
 *
 * With the merged view of the layers below (`below`), the image-level rules
 * run too, and the layer is then applied to that view for the next one.
 */
import { WhiteoutError } from '../errors.js';
import { planOpaque, planWhiteouts, type PathKind } from '../layer/rules.js';
import type { Limits } from '../layer/limits.js';
import { PathMap } from '../path-index.js';
import { AUFS_META_PREFIX, OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, ancestors, baseOf, display, isValidUtf8, join, parentOf } from '../paths.js';
import { type UnknownEntry, readTar } from '../tar/read.js';
import type { TarEntryInfo } from '../tar/types.js';
import { type At, type Finding, finding } from './finding.js';
import type { MergedTree, TreeKind } from './merged-tree.js';
import { escapesRoot, parseRawName } from './names.js';
import type { RuleId } from './rules.js';

export interface LayerRef {
  index: number;
  diffID?: string;
}

export interface LintLayerOptions {
  layer: LayerRef;
  /** Names the layer in messages of the tar reader. */
  what: string;
  /** The merged view of the layers below, when they are known; updated with this layer at its end. */
  below?: MergedTree;
  /** No layer is checked against this one (the top layer): `below` is read, not updated. */
  top?: boolean;
  limits: Limits;
  report: (f: Finding) => void;
}

/** What the layer holds at a path so far: content (explicit or implied by an entry below) or a marker name. */
interface Item {
  kind: TreeKind | 'marker';
  offset: number;
  /** False for a directory only implied by entries below it. */
  explicit: boolean;
}

const ITEM_KINDS = ['dir', 'symlink', 'nondir', 'marker'] as const;
const BLOCK = 512;

/**
 * The layer's items by path, each kept as one number (the header's 512-byte
 * block × 8 + kind × 2 + explicit): an object a path was ~48 bytes, and a layer
 * of 300,000 files held them all while its paths joined the merged view (check
 * peaked at ~205 MB). Blocks, not bytes: byte offset × 8 passes 2^31 past
 * 256 MB of tar, and every such value became a 16-byte heap number (11 MB for
 * a million paths). An offset off the block grid (none from a tar reader) is
 * kept exactly, as a negative number. The map is a PathMap, outside the JS
 * heap.
 */
export class Items {
  private readonly m = new PathMap();

  get(p: string): Item | undefined {
    const v = this.m.get(p);
    if (v === undefined) return undefined;
    const u = v < 0 ? -v - 1 : v;
    const low = u % 8;
    const n = (u - low) / 8;
    return { kind: ITEM_KINDS[low >> 1] as Item['kind'], offset: v < 0 ? n : n * BLOCK, explicit: (low & 1) === 1 };
  }

  set(p: string, it: Item): void {
    const low = ITEM_KINDS.indexOf(it.kind) * 2 + (it.explicit ? 1 : 0);
    this.m.set(p, it.offset % BLOCK === 0 ? (it.offset / BLOCK) * 8 + low : -(it.offset * 8 + low) - 1);
  }

  /** Every path, in the order it was first set. */
  keys(): Generator<string> {
    return this.m.keys();
  }
}

interface Marker {
  /** The marker's own name (`a/.wh.b`), for findings. */
  name: string;
  offset: number;
}

/** Linux's dev_t as mknod(2) takes it: 12 bits of major, 20 of minor (new_decode_dev). */
const MAX_MAJOR = 0xfff;
const MAX_MINOR = 0xfffff;

const KERNEL_NS = ['trusted.overlay.', 'user.overlay.'];

/** Strict ancestors, root first, the root itself left out. */
function parentsRootFirst(p: string): string[] {
  return [...ancestors(p)].filter((a) => a !== ROOT).reverse();
}

class LayerLint {
  private readonly names = new Items();
  private readonly whiteouts = new Map<string, Marker>();
  private readonly opaques = new Map<string, Marker>();
  /** Directories with content below them seen so far (for whiteout order, O0). */
  private readonly filled = new Set<string>();
  /** Whiteouts already reported as sharing their path with the layer's content. */
  private readonly sameLayer = new Set<string>();
  private entries = 0;

  constructor(private readonly o: LintLayerOptions) {}

  private add(rule: RuleId, message: string, at: At): void {
    this.o.report(finding(rule, message, at, this.o.layer));
  }

  /** An entry of a type flag no reader here knows: the reader skips it by its size and goes on. */
  unknownType(u: UnknownEntry): void {
    const p = parseRawName(u.name).path;
    this.add(
      'unknown-type',
      `type flag '${u.flag}' is not a POSIX or GNU entry type: GNU tar extracts it as a regular file, moby and containerd refuse the layer, whiteout's converters too; skipped by its size`,
      { entry: p ?? u.name, offset: u.offset },
    );
  }

  /** False when a limit stops the pass. */
  entry(h: TarEntryInfo): boolean {
    const at: At = { entry: h.name, offset: h.offset };
    const lim = this.o.limits;
    if (++this.entries > lim.maxEntries) {
      this.add('limit', `more than ${lim.maxEntries} entries (raise it with --max-entries); the rest of the layer is not checked`, { offset: h.offset });
      return false;
    }
    const name = parseRawName(h.name);
    if (name.dotdot) this.add('dotdot-name', `'${display(h.name)}' has a '..' component: moby refuses it, containerd clamps it to the root`, at);
    if (!isValidUtf8(h.name)) this.add('non-utf8-name', 'the name is not valid UTF-8: tools that read names as text see another name, or fail', at);
    const p = name.path;
    if (p === undefined) return true;
    at.entry = p;
    if (p.length > lim.maxPathBytes || p.split('/').length > lim.maxDepth) {
      this.add('limit', `the path is longer or deeper than --max-path ${lim.maxPathBytes} / --max-depth ${lim.maxDepth}; the rest of the layer is not checked`, at);
      return false;
    }
    if (name.absolute) this.add('absolute-name', `the tar stores it as '${display(h.name)}': runtimes strip the '/', crane export and flatten skip the entry`, at);
    for (const [key] of h.xattrs) {
      if (KERNEL_NS.some((ns) => key.startsWith(ns))) this.add('overlay-xattr', `xattr ${key}: an extractor that writes it verbatim plants live overlay metadata in a lower dir`, at);
    }
    this.classified(h, p, at);
    return true;
  }

  private classified(h: TarEntryInfo, p: string, at: At): void {
    const dir = parentOf(p);
    if (dir.includes(WHITEOUT_PREFIX)) {
      for (const c of dir.split('/')) {
        if (c.startsWith(AUFS_META_PREFIX) && c !== OPAQUE_MARKER) {
          this.add('aufs-meta', `below AUFS bookkeeping '${display(c)}': readers skip it`, at);
          return;
        }
        if (c.startsWith(WHITEOUT_PREFIX)) {
          this.add('whiteout-dir-component', `'${display(c)}' is a whiteout name used as a directory: containerd extracts a real directory, others refuse the layer`, at);
          return;
        }
      }
    }
    const base = baseOf(p);
    if (!base.startsWith(WHITEOUT_PREFIX)) return this.content(h, p, at);
    if (base === OPAQUE_MARKER) return this.marker(h, p, at, 'opaque', dir);
    if (base.startsWith(AUFS_META_PREFIX)) {
      this.add('aufs-meta', 'AUFS bookkeeping, not a whiteout: readers skip it', at);
      return;
    }
    const target = base.slice(WHITEOUT_PREFIX.length);
    if (target === '' || target === '.' || target === '..') {
      this.add('bare-whiteout', `'${display(base)}' names no file (layer.md: SHOULD be an error); some readers delete the directory or its parent`, at);
      return;
    }
    this.marker(h, p, at, 'whiteout', join(dir, target));
  }

  /**
   * The path's parents as this layer and the ones below have them. Content
   * entries imply their parents as directories; markers imply nothing.
   */
  private parents(p: string, offset: number, at: At, implies: boolean): void {
    for (const a of parentsRootFirst(p)) {
      const it = this.names.get(a);
      if (it?.kind === 'dir') continue;
      if (it) {
        if (it.kind === 'symlink') {
          this.add('path-through-symlink', `'/${display(a)}' is a symlink earlier in this layer: Go extractors follow it (inside the root), overlay readers replace it with a directory`, at);
        } else if (it.kind === 'nondir' && implies) {
          this.add('path-conflict', `'/${display(a)}' is a non-directory earlier in this layer: some readers replace it with a directory, others fail`, at);
        }
        // A marker below a same-layer non-directory is left to finish() (redundant-marker).
        if (!implies) return;
      } else {
        const lower = this.o.below?.kindOf(a);
        if (lower === 'symlink') {
          this.add('path-through-symlink', `'/${display(a)}' is a symlink in a lower layer: a runtime extracting onto the merged tree follows it, an overlay mount shows a new directory`, at);
        }
        if (!implies) {
          if (lower === 'dir') continue;
          return;
        }
      }
      this.names.set(a, { kind: 'dir', offset, explicit: false });
      this.sameLayerWhiteout(a);
    }
  }

  /** A whiteout that came earlier for a path this layer now adds. */
  private sameLayerWhiteout(p: string): void {
    const w = this.whiteouts.get(p);
    if (!w || this.sameLayer.has(p)) return;
    this.sameLayer.add(p);
    this.add('whiteout-same-layer', `the same layer adds '/${display(p)}' after whiting it out: read as spec'd the lower one goes and the new one stays, but a directory made this way is not opaque to moby's and containerd's overlay snapshotters, so lower content shows through`, { entry: w.name, offset: w.offset });
  }

  private fill(p: string): void {
    for (const a of ancestors(p)) {
      if (this.filled.has(a)) break;
      this.filled.add(a);
    }
  }

  private content(h: TarEntryInfo, p: string, at: At): void {
    const kind: TreeKind = h.type === 'dir' ? 'dir' : h.type === 'symlink' ? 'symlink' : 'nondir';
    if (p === ROOT && kind !== 'dir') {
      this.add('root-not-dir', `the root is given as a ${h.type}: umoci refuses it (CVE-2021-29136), others replace the root`, at);
      return;
    }
    this.parents(p, h.offset, at, true);
    const old = this.names.get(p);
    if (old?.explicit) this.add('duplicate-entry', `a second entry for this path (the first is at offset ${old.offset}); layer.md D2: MUST NOT`, at);
    if (old?.kind === 'dir' && kind !== 'dir' && this.filled.has(p)) {
      this.add('path-conflict', `a ${h.type} replaces a directory that earlier entries of this layer put things in`, at);
    }
    if (kind === 'dir' && !old && this.o.below?.kindOf(p) === 'symlink') {
      this.add('dir-over-symlink', "a lower layer has a symlink here: as spec'd (X1) the directory replaces it, but an extractor that keeps existing symlinks writes what follows through it (the pattern of CVE-2025-45582)", at);
    }
    this.sameLayerWhiteout(p);
    if (!(old?.kind === 'dir' && kind === 'dir')) this.names.set(p, { kind, offset: h.offset, explicit: true });
    else this.names.set(p, { ...old, explicit: true });
    this.fill(p);
    switch (h.type) {
      case 'file':
        if (h.sparse) this.add('sparse-file', 'stored sparse (layer.md: sparse files SHOULD NOT be used)', at);
        break;
      case 'symlink':
        if (escapesRoot(p, h.linkname)) this.add('symlink-escape', `-> '${display(h.linkname)}' climbs above the root: harmless in a container, but a tool that resolves it on the host leaves the rootfs`, at);
        break;
      case 'hardlink':
        this.hardlink(h, p, at);
        break;
      case 'char':
      case 'block':
        if (h.type === 'char' && h.devmajor === 0 && h.devminor === 0) {
          this.add('overlay-whiteout-device', 'a character device 0/0: an overlay mount reads it as a whiteout once extracted', at);
        }
        if (h.devmajor > MAX_MAJOR || h.devminor > MAX_MINOR) {
          this.add('device-range', `device ${h.devmajor},${h.devminor} does not fit Linux's dev_t (major ≤ 4095, minor ≤ 1048575): mknod fails or makes another device`, at);
        }
        break;
      default:
        break;
    }
  }

  private hardlink(h: TarEntryInfo, p: string, at: At): void {
    const t = parseRawName(h.linkname);
    if (t.path === undefined) {
      this.add('hardlink-outside', `-> '${display(h.linkname)}' ${t.dotdot ? "climbs out of the root with '..'" : 'is not a valid name'}`, at);
      return;
    }
    const target = this.names.get(t.path);
    if (target?.kind === 'dir') this.add('hardlink-to-dir', `-> '/${display(t.path)}' is a directory`, at);
    else if (!target?.explicit || target.kind === 'marker' || t.path === p) {
      this.add('hardlink-outside', `-> '/${display(t.path)}' is not an earlier entry of this layer (layer.md: linking outside the layer "may fail")`, at);
    }
  }

  private marker(h: TarEntryInfo, name: string, at: At, kind: 'whiteout' | 'opaque', target: string): void {
    const old = this.names.get(name);
    if (old?.explicit) this.add('duplicate-entry', `a second entry for this marker (the first is at offset ${old.offset}); layer.md D2: MUST NOT`, at);
    this.names.set(name, { kind: 'marker', offset: h.offset, explicit: true });
    if (h.type === 'file' && h.size > 0) this.add('whiteout-content', `a marker with ${h.size} bytes of content (layer.md: an empty file)`, at);
    else if (h.type !== 'file') this.add('whiteout-type', `a marker stored as a ${h.type} (layer.md: a regular file); readers go by the name alone`, at);
    const dir = parentOf(name);
    if (this.filled.has(dir)) {
      this.add('whiteout-order', `comes after entries of '/${display(dir)}' (layer.md: whiteouts SHOULD come before their siblings)`, at);
    }
    this.parents(name, h.offset, at, false);
    const marker = { name, offset: h.offset };
    if (kind === 'opaque') {
      if (!this.opaques.has(target)) this.opaques.set(target, marker);
      return;
    }
    const added = this.names.get(target);
    if (added && added.kind !== 'marker') {
      this.add('whiteout-after-entry', `whites out '/${display(target)}', which this layer added at offset ${added.offset}: the spec keeps it (a whiteout hides only lower layers), moby and containerd delete it`, at);
      this.sameLayer.add(target);
    }
    if (!this.whiteouts.has(target)) this.whiteouts.set(target, marker);
  }

  private kindOf = (p: string): PathKind => {
    const it = this.names.get(p);
    if (!it || it.kind === 'marker') return 'absent';
    return it.kind === 'dir' ? 'dir' : 'nondir';
  };

  /** The rules that need the whole layer; then the layer joins the merged view. */
  async finish(): Promise<void> {
    const op = await planOpaque(this.opaques.keys(), this.kindOf);
    for (const d of op.dropped) {
      const m = this.opaques.get(d.path) as Marker;
      this.add('redundant-marker', `opaque marker: ${d.reason}`, { entry: m.name, offset: m.offset });
    }
    const wp = await planWhiteouts(this.whiteouts.keys(), new Set(op.kept), this.kindOf);
    for (const d of wp.dropped) {
      if (this.sameLayer.has(d.path) || this.kindOf(d.path) !== 'absent') continue; // reported as whiteout-same-layer/-after-entry
      const m = this.whiteouts.get(d.path) as Marker;
      this.add('redundant-marker', `whiteout: ${d.reason}`, { entry: m.name, offset: m.offset });
    }
    const below = this.o.below;
    if (!below) return;
    const applied = [...wp.whiteouts, ...wp.madeOpaque];
    for (const t of applied) {
      if (below.kindOf(t) !== 'absent') continue;
      const m = this.whiteouts.get(t) as Marker;
      this.add('whiteout-hides-nothing', `no lower layer has '/${display(t)}': the whiteout deletes nothing${this.o.layer.index === 0 ? ' (this is the bottom layer)' : ''}`, { entry: m.name, offset: m.offset });
    }
    for (const d of op.kept) {
      if (d === ROOT ? below.hasChildren(ROOT) : below.kindOf(d) === 'dir') continue;
      const m = this.opaques.get(d) as Marker;
      this.add('opaque-hides-nothing', `no lower layer has the directory '/${display(d)}': the marker hides nothing`, { entry: m.name, offset: m.offset });
    }
    // The update is for the layers above; the top layer has none (a one-layer image of a million paths
    // sorted and added them all for nobody, SPEC.md §10).
    if (this.o.top) return;
    for (const t of applied) below.remove(t);
    for (const d of op.kept) below.clear(d);
    // In the layer's order, one path made at a time: the tree comes out the same in any order (a directory
    // over a directory merges, implied parents are made as directories, and nothing below a non-directory of
    // the layer is added), and sorting a million paths made every one of them a string at once.
    for (const p of this.names.keys()) {
      const it = this.names.get(p) as Item;
      if (it.kind === 'marker' || p === ROOT) continue;
      // Gone when a later entry of the layer replaced a parent with a non-directory.
      if (parentsRootFirst(p).some((a) => this.names.get(a)?.kind !== 'dir')) continue;
      below.add(p, it.kind);
    }
  }
}

function failureRule(e: WhiteoutError): RuleId {
  if (e.code === 'limit') return 'limit';
  if (/diffID mismatch/.test(e.why)) return 'diffid-mismatch';
  if (/mismatch|descriptor says/.test(e.why)) return 'digest-mismatch';
  if (/truncated|unexpected end/.test(e.why)) return 'truncated';
  return 'bad-tar';
}

/** A read failure as a finding: a bad tar, a corrupt stream, a digest that does not match. */
export function failureFinding(e: WhiteoutError, layer: LayerRef): Finding {
  const rule = failureRule(e);
  const m = /(?<!compressed )offset (\d+)/.exec(e.why);
  const at: At = m ? { offset: Number(m[1]) } : {};
  const why = rule === 'truncated' || rule === 'bad-tar' ? `${e.why}; the rest of the layer is not checked` : e.why;
  return finding(rule, why, at, layer);
}

/** How a pass ended: at the end of the tar, or stopped by a finding of this rule. */
export type LintEnd = { complete: true } | { complete: false; stoppedBy: RuleId };

/** Lint one uncompressed layer tar to its end. Read failures become findings and end the pass. */
export async function lintLayerTar(tar: AsyncIterable<Buffer>, o: LintLayerOptions): Promise<LintEnd> {
  const lint = new LayerLint(o);
  let end: LintEnd = { complete: true };
  try {
    const onUnknownType = (u: UnknownEntry) => lint.unknownType(u);
    for await (const t of readTar(tar, { name: o.what, limits: { maxHeaderBytes: o.limits.maxHeaderBytes }, onUnknownType })) {
      if (!lint.entry(t.header)) {
        end = { complete: false, stoppedBy: 'limit' };
        break;
      }
    }
  } catch (e) {
    if (!(e instanceof WhiteoutError)) throw e;
    const f = failureFinding(e, o.layer);
    o.report(f);
    end = { complete: false, stoppedBy: f.rule };
  }
  // What was read is still checked as a whole, so a hostile layer cut short still shows its markers' problems.
  await lint.finish();
  return end;
}
