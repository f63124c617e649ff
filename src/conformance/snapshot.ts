/**
 * Snapshots of a file tree, and their comparison. A snapshot records what a
 * container would see at every path: type, permission bits, owner, mtime,
 * content digest, link target, device numbers and xattrs. Snapshots of a
 * directory on disk, of a kernel overlay mount, of a rootfs tar and of the
 * in-memory reference models all share this shape, so any two can be compared.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { readXattrs } from '../fs/xattr.js';
import { display } from '../paths.js';
import { readTar } from '../tar/read.js';
import { MemTree } from './tree.js';

export type NodeType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

export interface SnapNode {
  type: NodeType;
  /** mode & 0o7777; always 0o777 for symlinks (Linux has no symlink permissions). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds, rounded to microseconds: Node sets times from doubles, so finer digits are noise. */
  mtime: number;
  /** xattr name → value as lowercase hex (values are bytes, hex keeps them printable). */
  xattrs: Map<string, string>;
  /** Regular files. */
  size?: number;
  sha256?: string;
  /** Symlinks: the target as a byte string. */
  target?: string;
  /** Character and block devices. */
  major?: number;
  minor?: number;
  /**
   * Non-directories that share an inode with another path in the same
   * snapshot: the smallest such path. Undefined for a path with no other link.
   */
  linkGroup?: string;
}

export interface TreeSnapshot {
  /** Byte-string path relative to the root (root = '') → node. */
  nodes: Map<string, SnapNode>;
  /**
   * Names a directory listing returned but lstat could not find. The kernel
   * lists a whiteout in a directory it does not merge, then refuses to look
   * it up; such names are invisible to a container but show in `ls`.
   */
  ghosts: string[];
}

export interface SnapshotIgnore {
  mtime?: boolean;
  /** uid and gid. */
  owner?: boolean;
  /** Mode, owner, mtime and xattrs of the root directory. */
  rootMeta?: boolean;
  /** Only the root's mtime (e.g. when something renames the root into place). */
  rootMtime?: boolean;
  /** All xattrs, or those for which the function returns true. */
  xattrs?: boolean | ((name: string) => boolean);
  /** Hardlink identity (linkGroup). */
  links?: boolean;
  /** Ghost names (see TreeSnapshot.ghosts); compared unless ignored. */
  ghosts?: boolean;
}

export interface SnapshotOptions {
  ignore?: SnapshotIgnore;
}

/** Seconds from nanoseconds, rounded to microseconds without going through a lossy double. */
export function mtimeFromNs(ns: bigint): number {
  const us = (ns >= 0n ? ns + 500n : ns - 500n) / 1000n;
  return Number(us) / 1e6;
}

export function roundMtime(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}

export function hexXattrs(xattrs: Map<string, Buffer>): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of [...xattrs.keys()].sort()) out.set(name, (xattrs.get(name) as Buffer).toString('hex'));
  return out;
}

/**
 * What a walker reports for one path, JSON-safe so that a walker in another
 * process (a user namespace, see kernel.ts) can send it.
 */
export interface RawNode {
  /** Byte string relative to the root. */
  path: string;
  /** The whole st_mode (type and permission bits). */
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: string;
  size: number;
  nlink: number;
  /** `dev:ino`, to find hardlinks. */
  inode: string;
  rdev: string;
  sha256?: string;
  target?: string;
  /** name → hex value. */
  xattrs: Record<string, string>;
}

const S_IFMT = 0o170000;
const TYPES: Record<number, NodeType> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o020000: 'char',
  0o060000: 'block',
  0o010000: 'fifo',
};

function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n));
}

function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
}

/** Build a snapshot from walker records (sockets and other types are dropped). */
/** The stat fields a snapshot keeps, in the form `snapshotFromRaw` takes (content and link target added by the caller). */
export function rawNodeOf(path: string, st: fs.BigIntStats, xattrs: Record<string, string>): RawNode {
  return {
    path,
    mode: Number(st.mode),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: String(st.mtimeNs),
    size: Number(st.size),
    nlink: Number(st.nlink),
    inode: `${st.dev}:${st.ino}`,
    rdev: String(st.rdev),
    xattrs,
  };
}

export function snapshotFromRaw(raws: Iterable<RawNode>, ghosts: Iterable<string> = []): TreeSnapshot {
  const nodes = new Map<string, SnapNode>();
  const inodes = new Map<string, string[]>();
  for (const r of raws) {
    const type = TYPES[r.mode & S_IFMT];
    if (!type) continue;
    const xattrs = new Map<string, string>();
    for (const k of Object.keys(r.xattrs).sort()) xattrs.set(k, r.xattrs[k] as string);
    const node: SnapNode = {
      type,
      mode: type === 'symlink' ? 0o777 : r.mode & 0o7777,
      uid: r.uid,
      gid: r.gid,
      mtime: mtimeFromNs(BigInt(r.mtimeNs)),
      xattrs,
    };
    if (type === 'file') {
      node.size = r.size;
      node.sha256 = r.sha256 ?? '';
    } else if (type === 'symlink') {
      node.target = r.target ?? '';
    } else if (type === 'char' || type === 'block') {
      node.major = devMajor(BigInt(r.rdev));
      node.minor = devMinor(BigInt(r.rdev));
    }
    nodes.set(r.path, node);
    if (type !== 'dir' && r.nlink > 1) {
      const g = inodes.get(r.inode);
      if (g) g.push(r.path);
      else inodes.set(r.inode, [r.path]);
    }
  }
  assignLinkGroups(nodes, inodes.values());
  return { nodes, ghosts: [...ghosts].sort() };
}

async function hashFile(real: Buffer): Promise<string> {
  const h = createHash('sha256');
  // O_NOFOLLOW: the walk never leaves the tree, even if a file is swapped for a link under us.
  const fh = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  try {
    const buf = Buffer.allocUnsafe(1 << 16);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

function realPath(root: Buffer, p: string): Buffer {
  return p === '' ? root : Buffer.concat([root, Buffer.from(`/${p}`, 'latin1')]);
}

/**
 * Snapshot the tree at `dir` without following any symlink. A name that
 * readdir returns but lstat cannot find is recorded as a ghost.
 */
export async function snapshotDir(dir: string, opts: SnapshotOptions = {}): Promise<TreeSnapshot> {
  const root = Buffer.from(dir, 'utf8');
  const raws: RawNode[] = [];
  const ghosts: string[] = [];
  const visit = async (p: string): Promise<void> => {
    const real = realPath(root, p);
    let st: fs.BigIntStats;
    try {
      st = await fs.promises.lstat(real, { bigint: true });
    } catch (e) {
      if (p !== '' && (e as { code?: unknown }).code === 'ENOENT') {
        ghosts.push(p);
        return;
      }
      throw e;
    }
    const xattrs: Record<string, string> = {};
    if (!st.isSocket()) for (const [k, v] of await readXattrs(real)) xattrs[k] = v.toString('hex');
    const raw = rawNodeOf(p, st, xattrs);
    if (st.isFile()) raw.sha256 = await hashFile(real);
    if (st.isSymbolicLink()) raw.target = await fs.promises.readlink(real, { encoding: 'latin1' });
    raws.push(raw);
    if (st.isDirectory()) {
      const names = (await fs.promises.readdir(real, { encoding: 'latin1' })).sort();
      for (const name of names) await visit(p === '' ? name : `${p}/${name}`);
    }
  };
  await visit('');
  return applyIgnore(snapshotFromRaw(raws, ghosts), opts.ignore ?? {});
}

/** Give every path of an inode seen at two or more paths the smallest of them as its group. */
export function assignLinkGroups(nodes: Map<string, SnapNode>, groups: Iterable<string[]>): void {
  for (const paths of groups) {
    if (paths.length < 2) continue;
    const first = [...paths].sort()[0] as string;
    for (const p of paths) {
      const n = nodes.get(p);
      if (n) n.linkGroup = first;
    }
  }
}

/** Strip the tar name forms a rootfs tar may use (`./x`, `/x`, `x/`) down to a snapshot path. */
function tarPath(raw: string): string {
  return raw
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
}

async function digestBody(body: AsyncIterable<Buffer>): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    h.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: h.digest('hex') };
}

/**
 * Snapshot a *rootfs* tar (a flattened image: plain entries, no whiteouts) as
 * extracting it into an empty root would leave it: later entries replace
 * earlier ones, a directory over a directory only replaces its attributes,
 * and missing parents appear as 0755 root-owned directories with mtime 0.
 */
export async function snapshotTar(stream: AsyncIterable<Buffer>, opts: SnapshotOptions & { name?: string } = {}): Promise<TreeSnapshot> {
  const name = opts.name ?? 'rootfs tar';
  const tree = new MemTree();
  for await (const t of readTar(stream, { name, limits: {} })) {
    const h = t.header;
    const p = tarPath(h.name);
    if (p.split('/').some((c) => c === '..')) throw new Error(`${name}: entry '${display(h.name)}' has a '..' component`);
    if (p.split('/').some((c) => c.startsWith('.wh.'))) {
      throw new Error(`${name}: entry '${display(h.name)}' is a whiteout; a rootfs tar has none`);
    }
    const meta = { mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime, xattrs: h.xattrs };
    switch (h.type) {
      case 'dir':
        tree.putDir(p, meta);
        break;
      case 'file': {
        const d = await digestBody(t.body);
        tree.putLeaf(p, { type: 'file', ...meta, ...d });
        break;
      }
      case 'symlink':
        tree.putLeaf(p, { type: 'symlink', ...meta, target: h.linkname });
        break;
      case 'hardlink':
        tree.putHardlink(p, tarPath(h.linkname), name);
        break;
      case 'char':
      case 'block':
        tree.putLeaf(p, { type: h.type, ...meta, major: h.devmajor, minor: h.devminor });
        break;
      case 'fifo':
        tree.putLeaf(p, { type: 'fifo', ...meta });
        break;
    }
  }
  return applyIgnore(tree.toSnapshot(), opts.ignore ?? {});
}

/** A copy of `snap` with the ignored fields set to neutral values, so compare sees them equal. */
export function applyIgnore(snap: TreeSnapshot, ignore: SnapshotIgnore): TreeSnapshot {
  const nodes = new Map<string, SnapNode>();
  const dropXattr = ignore.xattrs;
  for (const [p, n0] of snap.nodes) {
    const n: SnapNode = { ...n0, xattrs: new Map(n0.xattrs) };
    if (ignore.mtime || (p === '' && (ignore.rootMeta || ignore.rootMtime))) n.mtime = 0;
    if (ignore.owner || (p === '' && ignore.rootMeta)) {
      n.uid = 0;
      n.gid = 0;
    }
    if (p === '' && ignore.rootMeta) n.mode = 0;
    if (dropXattr === true || (p === '' && ignore.rootMeta)) n.xattrs.clear();
    else if (typeof dropXattr === 'function') for (const k of [...n.xattrs.keys()]) if (dropXattr(k)) n.xattrs.delete(k);
    if (ignore.links) delete n.linkGroup;
    nodes.set(p, n);
  }
  return { nodes, ghosts: ignore.ghosts ? [] : [...snap.ghosts] };
}

export type Difference =
  | { kind: 'only'; path: string; side: string; descendants: number }
  | { kind: 'field'; path: string; field: string; a: string; b: string; labels: [string, string] }
  | { kind: 'ghost'; path: string; side: string };

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function xattrText(hex: string): string {
  const b = Buffer.from(hex, 'hex');
  // Show printable ASCII as text, anything else as hex.
  return /^[\x20-\x7e]*$/.test(b.toString('latin1')) ? JSON.stringify(b.toString('latin1')) : `0x${hex}`;
}

function compareNodes(p: string, a: SnapNode, b: SnapNode, labels: [string, string], out: Difference[]): void {
  const field = (f: string, x: string, y: string) => {
    if (x !== y) out.push({ kind: 'field', path: p, field: f, a: x, b: y, labels });
  };
  if (a.type !== b.type) {
    field('type', a.type, b.type);
    return;
  }
  field('mode', octal(a.mode), octal(b.mode));
  field('owner', `${a.uid}:${a.gid}`, `${b.uid}:${b.gid}`);
  field('mtime', String(a.mtime), String(b.mtime));
  if (a.type === 'file') {
    field('size', String(a.size), String(b.size));
    if (a.size === b.size) field('content', `sha256:${a.sha256?.slice(0, 12)}`, `sha256:${b.sha256?.slice(0, 12)}`);
  }
  if (a.type === 'symlink') field('target', JSON.stringify(display(a.target ?? '')), JSON.stringify(display(b.target ?? '')));
  if (a.type === 'char' || a.type === 'block') field('device', `${a.major},${a.minor}`, `${b.major},${b.minor}`);
  const names = new Set([...a.xattrs.keys(), ...b.xattrs.keys()]);
  for (const name of [...names].sort()) {
    const x = a.xattrs.get(name);
    const y = b.xattrs.get(name);
    field(`xattr ${name}`, x === undefined ? '(absent)' : xattrText(x), y === undefined ? '(absent)' : xattrText(y));
  }
  field('hardlinked with', a.linkGroup === undefined ? '(none)' : `/${display(a.linkGroup)}`, b.linkGroup === undefined ? '(none)' : `/${display(b.linkGroup)}`);
}

function isBelow(p: string, dir: string): boolean {
  return dir === '' ? p !== '' : p.startsWith(`${dir}/`);
}

/**
 * Every way `a` and `b` differ, in path order. A path present on one side only
 * is reported once, with a count of what lies below it. `ignore` applies to
 * both sides.
 */
export function compareSnapshots(a: TreeSnapshot, b: TreeSnapshot, labels: [string, string] = ['a', 'b'], ignore: SnapshotIgnore = {}): Difference[] {
  const x = applyIgnore(a, ignore);
  const y = applyIgnore(b, ignore);
  const out: Difference[] = [];
  const paths = [...new Set([...x.nodes.keys(), ...y.nodes.keys()])].sort();
  let skipUnder: string | undefined;
  for (const p of paths) {
    if (skipUnder !== undefined && isBelow(p, skipUnder)) continue;
    skipUnder = undefined;
    const na = x.nodes.get(p);
    const nb = y.nodes.get(p);
    if (na && nb) {
      compareNodes(p, na, nb, labels, out);
      continue;
    }
    const side = na ? labels[0] : labels[1];
    const tree = na ? x : y;
    let descendants = 0;
    for (const q of tree.nodes.keys()) if (isBelow(q, p)) descendants++;
    out.push({ kind: 'only', path: p, side, descendants });
    skipUnder = p;
  }
  const ga = new Set(x.ghosts);
  const gb = new Set(y.ghosts);
  for (const g of [...new Set([...ga, ...gb])].sort()) {
    if (ga.has(g) && !gb.has(g)) out.push({ kind: 'ghost', path: g, side: labels[0] });
    if (gb.has(g) && !ga.has(g)) out.push({ kind: 'ghost', path: g, side: labels[1] });
  }
  return out;
}

/** One readable line per difference, at most `max` of them. */
export function formatDifferences(diffs: readonly Difference[], max = 20): string {
  const lines = diffs.slice(0, max).map((d) => {
    const where = `/${display(d.path)}`;
    switch (d.kind) {
      case 'only':
        return `only in ${d.side}: ${where}${d.descendants > 0 ? ` (and ${d.descendants} below it)` : ''}`;
      case 'field':
        return `${where}: ${d.field} ${d.a} ≠ ${d.b}  (${d.labels[0]} ≠ ${d.labels[1]})`;
      case 'ghost':
        return `listed but not found, only in ${d.side}: ${where}`;
    }
  });
  if (diffs.length > max) lines.push(`… and ${diffs.length - max} more`);
  return lines.join('\n');
}

/** A snapshot as text, one path a line, for failure messages and debugging. */
export function formatSnapshot(snap: TreeSnapshot): string {
  const lines: string[] = [];
  for (const p of [...snap.nodes.keys()].sort()) {
    const n = snap.nodes.get(p) as SnapNode;
    let extra = '';
    if (n.type === 'file') extra = ` ${n.size}B ${n.sha256?.slice(0, 8)}`;
    if (n.type === 'symlink') extra = ` → ${JSON.stringify(display(n.target ?? ''))}`;
    if (n.type === 'char' || n.type === 'block') extra = ` ${n.major},${n.minor}`;
    if (n.linkGroup !== undefined && n.linkGroup !== p) extra += ` (link to /${display(n.linkGroup)})`;
    const xs = [...n.xattrs].map(([k, v]) => ` ${k}=${xattrText(v)}`).join('');
    lines.push(`/${display(p)} ${n.type} ${octal(n.mode)} ${n.uid}:${n.gid} @${n.mtime}${extra}${xs}`);
  }
  for (const g of snap.ghosts) lines.push(`/${display(g)} (ghost)`);
  return lines.join('\n');
}

