/**
 * Two reference models, written from the specifications and not from the code
 * under test, so that a bug has to be made twice to go unseen:
 *
 * - `applyOciLayers`: the image-spec changeset semantics (layer.md), applied
 *   in memory to an abstract description of each layer;
 * - `overlayLookup`: a userland reading of layer directories the way the
 *   kernel's overlay lookup resolves them (overlayfs.rst), as a snapshot.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readXattrs } from '../fs/xattr.js';
import type { WhiteoutForm } from '../overlay/forms.js';
import { type RawNode, type TreeSnapshot, rawNodeOf, snapshotFromRaw } from './snapshot.js';
import { MemTree, type MemMeta } from './tree.js';

// ---- the abstract layer --------------------------------------------------------

/** Metadata of a layer entry. Paths and link targets are byte strings (latin1). */
export interface SpecMeta {
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
  /** xattr name → value bytes, as the image carries them (never escaped). */
  xattrs?: Record<string, Buffer>;
}

export type LayerOp =
  | ({ op: 'file'; path: string; content: Buffer } & SpecMeta)
  /** `path: ''` is the layer root (`./`). */
  | ({ op: 'dir'; path: string } & SpecMeta)
  | ({ op: 'symlink'; path: string; target: string } & SpecMeta)
  | ({ op: 'node'; path: string; kind: 'char' | 'block' | 'fifo'; major: number; minor: number } & SpecMeta)
  /** `target` is an earlier non-directory entry of the same layer. */
  | { op: 'hardlink'; path: string; target: string }
  /** `.wh.<name>`: `path` is deleted from the layers below. */
  | { op: 'whiteout'; path: string }
  /** `<dir>/.wh..wh..opq`: nothing below shows through `dir`. */
  | { op: 'opaque'; dir: string };

/** One layer: its tar entries in archive order. */
export type LayerSpec = readonly LayerOp[];

function metaOf(m: SpecMeta): MemMeta {
  const xattrs = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(m.xattrs ?? {})) xattrs.set(k, Buffer.from(v));
  return { mode: m.mode & 0o7777, uid: m.uid, gid: m.gid, mtime: m.mtime, xattrs };
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * The image-spec semantics of applying `layers`, bottom first, to an empty
 * root (mode 0755, 0:0, mtime 0). For each layer:
 *
 * 1. its whiteouts delete the path, with its subtree, from what lies below
 *    (a whiteout under a non-directory names nothing: symlinks are never followed);
 * 2. its opaque markers delete every child of their directory that came from
 *    below, and imply that directory (and its parents) like any entry does;
 * 3. its content entries apply in order: a directory over a directory replaces
 *    the attributes and keeps the children, anything else replaces what was
 *    there, whole subtree included. A missing parent, or a parent that is not
 *    a directory, becomes a directory 0755 0:0 mtime 0 with no xattrs; an
 *    existing directory on the way is left as it is.
 *
 * Markers act on the lower layers only, so a whiteout and an entry for the
 * same path in one layer leave the entry; `.wh.X` with a directory `X/` makes
 * X a fresh directory. A hardlink is the inode its target has at that moment.
 */
export function applyOciLayers(layers: readonly LayerSpec[]): TreeSnapshot {
  const tree = new MemTree();
  layers.forEach((layer, i) => applyLayer(tree, layer, `layer ${i}`));
  return tree.toSnapshot();
}

function applyLayer(tree: MemTree, layer: LayerSpec, what: string): void {
  const start = tree.mark();
  for (const op of layer) {
    if (op.op === 'whiteout') {
      if (op.path === '') throw new Error(`${what}: a whiteout of the root`);
      tree.removeSubtree(op.path);
    }
  }
  // All opaque markers empty their directories of lower content before any of
  // them implies a directory, so one marker never removes what another implied.
  const opaque = layer.flatMap((op) => (op.op === 'opaque' ? [op.dir] : []));
  for (const dir of opaque) if (tree.isDir(dir)) tree.removeChildren(dir);
  for (const dir of opaque) tree.ensureDir(dir);
  for (const op of layer) {
    switch (op.op) {
      case 'whiteout':
      case 'opaque':
        break;
      case 'dir':
        // The root too: a directory over a directory keeps the children.
        tree.putDir(op.path, metaOf(op));
        break;
      case 'file':
        tree.putLeaf(op.path, { type: 'file', ...metaOf(op), size: op.content.length, sha256: sha256(op.content) });
        break;
      case 'symlink':
        tree.putLeaf(op.path, { type: 'symlink', ...metaOf(op), target: op.target });
        break;
      case 'node':
        tree.putLeaf(op.path, { type: op.kind, ...metaOf(op), major: op.major, minor: op.minor });
        break;
      case 'hardlink':
        tree.putHardlink(op.path, op.target, what, start);
        break;
    }
  }
}

/** A stack as text, one entry a line, bottom layer first: for counterexample reports. */
export function describeStack(layers: readonly LayerSpec[]): string {
  const lines: string[] = [];
  const meta = (m: SpecMeta) => {
    const xs = Object.entries(m.xattrs ?? {})
      .map(([k, v]) => ` ${k}=${Buffer.from(v.toString('utf8'), 'utf8').equals(v) ? JSON.stringify(v.toString('utf8')) : `0x${v.toString('hex')}`}`)
      .join('');
    return `${m.mode.toString(8).padStart(4, '0')} ${m.uid}:${m.gid} @${m.mtime}${xs}`;
  };
  const show = (p: string) => `/${Buffer.from(p, 'latin1').toString('utf8')}`;
  layers.forEach((layer, i) => {
    lines.push(`layer ${i}${i === 0 ? ' (bottom)' : ''}:${layer.length === 0 ? ' (empty)' : ''}`);
    for (const op of layer) {
      switch (op.op) {
        case 'file':
          lines.push(`  file     ${show(op.path)} ${meta(op)} ${JSON.stringify(op.content.toString('latin1'))}`);
          break;
        case 'dir':
          lines.push(`  dir      ${op.path === '' ? '/ (root)' : show(op.path)} ${meta(op)}`);
          break;
        case 'symlink':
          lines.push(`  symlink  ${show(op.path)} → ${JSON.stringify(op.target)} ${meta(op)}`);
          break;
        case 'node':
          lines.push(`  ${op.kind.padEnd(8)} ${show(op.path)} ${op.major},${op.minor} ${meta(op)}`);
          break;
        case 'hardlink':
          lines.push(`  hardlink ${show(op.path)} → ${show(op.target)}`);
          break;
        case 'whiteout':
          lines.push(`  whiteout ${show(op.path)}`);
          break;
        case 'opaque':
          lines.push(`  opaque   ${show(op.dir)}`);
          break;
      }
    }
  });
  return lines.join('\n');
}

/** Every path a layer's entries name (for arbitraries and for checks on them). */
export function opPath(op: LayerOp): string {
  return op.op === 'opaque' ? op.dir : op.path;
}

// ---- the userland overlay lookup ---------------------------------------------

export interface LookupForm {
  whiteouts: WhiteoutForm;
  userxattr: boolean;
}

interface Obj {
  layer: number;
  st: fs.BigIntStats;
  xattrs: Map<string, Buffer>;
}

const AUFS_PREFIX = '.wh.';
const AUFS_OPAQUE = '.wh..wh..opq';

/**
 * What a read-only overlay mount of `layerDirs` (topmost first, all lowers)
 * shows, computed in userland. For each name in a merged directory the
 * layers are read top-down:
 *
 * - a whiteout (a 0/0 character device in every form; with `xattr`, also an
 *   empty regular file carrying `<ns>.overlay.whiteout`; with `aufs`, a
 *   `.wh.NAME` file beside it) hides the name in lower layers and is itself
 *   hidden; an aufs `.wh.NAME` hides only the layers below its own;
 * - the topmost object found is what shows; if it is a directory, it merges
 *   with the directories of the same name below until a layer holds a
 *   non-directory or a whiteout there, or a directory marked opaque
 *   (`<ns>.overlay.opaque=y`, or an aufs `.wh..wh..opq` file) ends the merge;
 *   opacity on a layer root is never read;
 * - a merged directory's metadata is its topmost layer's;
 * - xattrs show as a merged view shows them: every `<ns>.overlay.*` of the
 *   active namespace is hidden, except the escaped `<ns>.overlay.overlay.X`,
 *   which shows as `<ns>.overlay.X`; the other namespace shows as stored.
 *
 * `ghosts` lists the whiteouts a kernel readdir still returns (Linux 6.x):
 * every whiteout in a directory only one layer provides (the kernel reads
 * such a directory directly), and an xattr whiteout in a merged directory
 * unless its own directory is marked `opaque=x` and its layer is not the lowest.
 */
export async function overlayLookup(layerDirs: readonly string[], form: LookupForm): Promise<TreeSnapshot> {
  const ns = form.userxattr ? 'user.overlay.' : 'trusted.overlay.';
  const roots = layerDirs.map((d) => Buffer.from(d, 'utf8'));
  const last = layerDirs.length - 1;
  const real = (i: number, p: string) => (p === '' ? (roots[i] as Buffer) : Buffer.concat([roots[i] as Buffer, Buffer.from(`/${p}`, 'latin1')]));
  const join = (dir: string, name: string) => (dir === '' ? name : `${dir}/${name}`);

  const objAt = async (i: number, p: string): Promise<Obj | undefined> => {
    let st: fs.BigIntStats;
    try {
      st = await fs.promises.lstat(real(i, p), { bigint: true });
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw e;
    }
    return { layer: i, st, xattrs: await readXattrs(real(i, p)) };
  };
  const exists = async (i: number, p: string) => (await objAt(i, p)) !== undefined;
  const isWhiteout = (o: Obj): boolean => {
    if (o.st.isCharacterDevice() && o.st.rdev === 0n) return true;
    return form.whiteouts === 'xattr' && o.st.isFile() && o.st.size === 0n && o.xattrs.has(`${ns}whiteout`);
  };
  const isOpaque = async (o: Obj, p: string): Promise<boolean> => {
    if (p === '') return false;
    if (form.whiteouts === 'aufs') return exists(o.layer, join(p, AUFS_OPAQUE));
    return o.xattrs.get(`${ns}opaque`)?.toString('latin1') === 'y';
  };

  const raws: RawNode[] = [];
  const ghosts: string[] = [];
  const record = async (p: string, o: Obj): Promise<void> => {
    const st = o.st;
    const xattrs: Record<string, string> = {};
    for (const [k, v] of mergedXattrs(o.xattrs, ns)) xattrs[k] = v.toString('hex');
    const raw = rawNodeOf(p, st, xattrs);
    if (st.isFile()) raw.sha256 = sha256(await fs.promises.readFile(real(o.layer, p)));
    if (st.isSymbolicLink()) raw.target = await fs.promises.readlink(real(o.layer, p), { encoding: 'latin1' });
    raws.push(raw);
  };

  /** `dir` is a directory in `layers` (topmost first, the merge already cut at opacity). */
  const walk = async (dir: string, layers: number[]): Promise<void> => {
    const names = new Set<string>();
    for (const i of layers) {
      for (const n of await fs.promises.readdir(real(i, dir), { encoding: 'latin1' })) names.add(n);
    }
    const merged = layers.length > 1;
    // Which of this directory's layers announce xattr whiteouts (`opaque=x`), for the readdir rule.
    const markedX = new Set<number>();
    for (const i of layers) if ((await readXattrs(real(i, dir))).get(`${ns}opaque`)?.toString('latin1') === 'x') markedX.add(i);
    const isGhost = (o: Obj): boolean => {
      if (!merged) return true; // the kernel reads a directory only one layer provides directly
      if (o.st.isCharacterDevice()) return false;
      return !(markedX.has(o.layer) && o.layer !== last);
    };
    for (const name of [...names].sort()) {
      if (form.whiteouts === 'aufs' && name.startsWith(AUFS_PREFIX)) continue; // overlay-private
      const p = join(dir, name);
      let top: Obj | undefined;
      const below: number[] = [];
      for (const i of layers) {
        const o = await objAt(i, p);
        if (o) {
          if (isWhiteout(o)) {
            if (!top && isGhost(o)) ghosts.push(p);
            break;
          }
          top ??= o;
          // A non-directory shows only if it is the topmost; either way nothing below it merges.
          if (!o.st.isDirectory()) break;
          below.push(i);
          if (await isOpaque(o, p)) break;
        }
        // An aufs `.wh.NAME` hides NAME in the layers below its own, not beside it.
        if (form.whiteouts === 'aufs' && (await exists(i, join(dir, AUFS_PREFIX + name)))) break;
      }
      if (!top) continue;
      await record(p, top);
      if (top.st.isDirectory()) await walk(p, below);
    }
  };

  const rootObj = await objAt(0, '');
  if (!rootObj || !rootObj.st.isDirectory()) throw new Error(`${layerDirs[0]}: not a directory`);
  await record('', rootObj);
  await walk('', layerDirs.map((_, i) => i));
  return snapshotFromRaw(raws, ghosts);
}

/** xattrs as a merged view shows them (see overlayLookup). */
export function mergedXattrs(stored: Map<string, Buffer>, ns: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [name, value] of stored) {
    if (!name.startsWith(ns)) out.set(name, value);
    else if (name.startsWith(`${ns}overlay.`)) out.set(ns + name.slice(ns.length + 'overlay.'.length), value);
  }
  return out;
}
