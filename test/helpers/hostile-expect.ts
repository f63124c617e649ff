/**
 * Expected trees for the hostile corpus, written once in a form-neutral way
 * (a whiteout is a whiteout, an opaque dir is an opaque dir) and checked
 * against each concrete output: an unpacked directory in device, xattr or
 * aufs form, an overlay-form tar from `convert --to overlay`, or a flattened
 * rootfs. Every reader here also looks for live overlay metadata that the
 * layer planted (SPEC.md §5.1) and reports it as a problem.
 */
import { type Node, readTree } from './hostile-fs.js';
import { type ReadEntry, canon } from './hostile-tar.js';

export type Form = 'device' | 'xattr' | 'aufs';

interface MetaX {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds. */
  mtime?: number;
  /** Data xattrs as stored (escaped names), values latin1. Omitted: none allowed. */
  xattrs?: Record<string, string>;
}

export type X =
  | ({ t: 'file'; content?: string | Buffer; same?: string } & MetaX)
  | ({ t: 'dir'; opaque?: boolean } & MetaX)
  | ({ t: 'symlink'; target: string; same?: string } & MetaX)
  | { t: 'whiteout' }
  | ({ t: 'char' | 'block'; major: number; minor: number } & MetaX)
  | ({ t: 'fifo' } & MetaX);

/** Paths are latin1 byte strings relative to the root; '' (the root) is checked only when listed. */
export type Tree = Record<string, X>;

export const F = (content: string | Buffer = '', m: MetaX & { same?: string } = {}): X => ({ t: 'file', content, ...m });
export const D = (m: MetaX & { opaque?: boolean } = {}): X => ({ t: 'dir', ...m });
export const OPQ = (m: MetaX = {}): X => ({ t: 'dir', opaque: true, ...m });
export const S = (target: string, m: MetaX & { same?: string } = {}): X => ({ t: 'symlink', target, ...m });
export const W: X = { t: 'whiteout' };
export const C = (major: number, minor: number, m: MetaX = {}): X => ({ t: 'char', major, minor, ...m });
export const B = (major: number, minor: number, m: MetaX = {}): X => ({ t: 'block', major, minor, ...m });
export const P = (m: MetaX = {}): X => ({ t: 'fifo', ...m });

/** An output read back: path → what it holds. */
export type Logical = Map<string, L>;

/** What an output holds at a path, markers already read. */
export interface L {
  t: X['t'];
  content?: Buffer;
  target?: string;
  major?: number;
  minor?: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  opaque: boolean;
  xattrs: Map<string, Buffer>;
  /** Identity for hard links. */
  id: string;
}

const LIVE = /^(trusted|user)\.overlay\.(?!overlay\.)/;
const shown = (p: string) => JSON.stringify(Buffer.from(p, 'latin1').toString('utf8'));

const parentOf = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const baseOf = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const join = (d: string, n: string) => (d === '' ? n : `${d}/${n}`);

/** Read an unpacked layer directory in the given form. */
export function logicalFromDisk(root: string, form: Form, userxattr: boolean): { tree: Map<string, L>; problems: string[] } {
  const ns = userxattr ? 'user.overlay.' : 'trusted.overlay.';
  const raw = readTree(root);
  const problems: string[] = [];
  const tree = new Map<string, L>();
  const opaqueAufs = new Set<string>();
  const xwhiteoutParents = new Set<string>();
  for (const [p, n] of raw) {
    const allowed = new Set<string>();
    const base = baseOf(p);
    let kind: X['t'] | undefined = n.type === 'file' || n.type === 'dir' || n.type === 'symlink' || n.type === 'char' || n.type === 'block' || n.type === 'fifo' ? n.type : undefined;
    if (!kind) {
      problems.push(`unexpected ${n.type} at ${shown(p)}`);
      continue;
    }
    let at = p;
    const zeroDev = n.type === 'char' && n.major === 0 && n.minor === 0;
    if (zeroDev && form !== 'device') problems.push(`a 0/0 character device at ${shown(p)} in the ${form} form`);
    if (form === 'device' && zeroDev) kind = 'whiteout';
    if (form === 'xattr' && n.type === 'file' && n.xattrs.has(`${ns}whiteout`)) {
      allowed.add(`${ns}whiteout`);
      if (n.size !== 0) problems.push(`xattr whiteout ${shown(p)} is not empty`);
      kind = 'whiteout';
      xwhiteoutParents.add(parentOf(p));
    }
    if (form === 'aufs' && base.startsWith('.wh.')) {
      if (base === '.wh..wh..opq') {
        opaqueAufs.add(parentOf(p));
        continue;
      }
      kind = 'whiteout';
      at = join(parentOf(p), base.slice(4));
    }
    let opaque = false;
    if (n.type === 'dir') {
      const v = n.xattrs.get(`${ns}opaque`)?.toString('latin1');
      if (v !== undefined && form !== 'aufs') {
        allowed.add(`${ns}opaque`);
        if (v === 'y') opaque = true;
        else if (!(v === 'x' && form === 'xattr')) problems.push(`${ns}opaque=${JSON.stringify(v)} on ${shown(p)}`);
      }
    }
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of n.xattrs) {
      if (allowed.has(k)) continue;
      if (LIVE.test(k)) problems.push(`live overlay xattr ${k}=${JSON.stringify(v.toString('latin1'))} on ${shown(p)}`);
      xattrs.set(k, v);
    }
    if (tree.has(at)) problems.push(`${shown(at)} is both a whiteout marker and an entry`);
    tree.set(at, fromNode(kind, n, opaque, xattrs));
  }
  for (const d of opaqueAufs) {
    const l = tree.get(d);
    if (l && l.t === 'dir') l.opaque = true;
    else problems.push(`opaque marker in ${shown(d)}, which is not a directory`);
  }
  for (const d of xwhiteoutParents) {
    const v = raw.get(d)?.xattrs.get(`${ns}opaque`)?.toString('latin1');
    if (v !== 'x' && v !== 'y') problems.push(`xattr whiteouts in ${shown(d)} but it lacks ${ns}opaque=x: the kernel will not see them`);
  }
  return { tree, problems };
}

function fromNode(t: X['t'], n: Node, opaque: boolean, xattrs: Map<string, Buffer>): L {
  const l: L = { t, mode: n.mode, uid: n.uid, gid: n.gid, mtime: Number(n.mtimeNs / 1_000_000n) / 1000, opaque, xattrs, id: `ino:${n.ino}` };
  if (n.content) l.content = n.content;
  if (n.target !== undefined) l.target = n.target;
  if (n.major !== undefined) l.major = n.major;
  if (n.minor !== undefined) l.minor = n.minor;
  return l;
}

/**
 * Put an entry into a tree the way an extractor (and SPEC §6) reads a tar: a
 * later entry replaces an earlier one (a directory's children go with it unless
 * the new entry is a directory too), and an entry below a non-directory turns
 * that path into a directory. A tar is a sequence, not a tree; this says what
 * it means.
 */
function place(tree: Map<string, L>, p: string, l: L): void {
  const parts = p.split('/');
  for (let i = 1; i < parts.length; i++) {
    const a = parts.slice(0, i).join('/');
    const have = tree.get(a);
    if (have && have.t !== 'dir' && have.t !== 'whiteout') tree.set(a, { t: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, opaque: false, xattrs: new Map(), id: `implied:${a}` });
  }
  const old = tree.get(p);
  if (old && old.t === 'dir' && l.t !== 'dir') for (const k of [...tree.keys()]) if (k.startsWith(`${p}/`)) tree.delete(k);
  tree.set(p, l);
}

/** Read the overlay-form tar `convert --to overlay` wrote. */
export function logicalFromOverlayTar(entries: ReadEntry[], userxattr: boolean): { tree: Map<string, L>; problems: string[] } {
  const ns = userxattr ? 'user.overlay.' : 'trusted.overlay.';
  const tree = new Map<string, L>();
  const problems: string[] = [];
  entries.forEach((e, i) => {
    problems.push(...unsafeName(e.name, 'name'));
    const p = canon(e.name);
    if (p.split('/').some((c) => c.startsWith('.wh.'))) problems.push(`a '.wh.' name ${shown(p)} in the overlay form`);
    const allowed = new Set<string>();
    let t: X['t'];
    let id = `entry:${i}`;
    let content: Buffer | undefined = e.data;
    let target: string | undefined;
    switch (e.typeflag) {
      case '0':
      case '\0':
      case '7':
        t = 'file';
        break;
      case '5':
        t = 'dir';
        break;
      case '2':
        t = 'symlink';
        target = e.linkname;
        break;
      case '3':
        t = e.devmajor === 0 && e.devminor === 0 ? 'whiteout' : 'char';
        break;
      case '4':
        t = 'block';
        break;
      case '6':
        t = 'fifo';
        break;
      case '1': {
        problems.push(...unsafeName(e.linkname, 'hardlink target'));
        const src = tree.get(canon(e.linkname));
        if (!src) {
          problems.push(`hardlink ${shown(p)} to ${shown(e.linkname)}, which the tar does not hold before it`);
          return;
        }
        t = src.t;
        id = src.id;
        content = src.content;
        target = src.target;
        break;
      }
      default:
        problems.push(`typeflag ${JSON.stringify(e.typeflag)} at ${shown(p)}`);
        return;
    }
    let opaque = false;
    if (t === 'dir') {
      const v = e.xattrs.get(`${ns}opaque`)?.toString('latin1');
      if (v !== undefined) {
        allowed.add(`${ns}opaque`);
        if (v === 'y') opaque = true;
        else problems.push(`${ns}opaque=${JSON.stringify(v)} on ${shown(p)}`);
      }
    }
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of e.xattrs) {
      if (allowed.has(k)) continue;
      if (LIVE.test(k)) problems.push(`live overlay xattr ${k} on ${shown(p)}`);
      xattrs.set(k, v);
    }
    const l: L = { t, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: e.mtime, opaque, xattrs, id };
    if (content && t === 'file') l.content = content;
    if (target !== undefined) l.target = target;
    if (t === 'char' || t === 'block') {
      l.major = e.devmajor;
      l.minor = e.devminor;
    }
    place(tree, p, l);
  });
  return { tree, problems };
}

/** Names our writers produce must be relative, NUL-free and without `..`. */
export function unsafeName(name: string, what: string): string[] {
  const p: string[] = [];
  if (name.startsWith('/')) p.push(`absolute ${what} ${shown(name)} in output`);
  if (name.split('/').includes('..')) p.push(`'..' in ${what} ${shown(name)} in output`);
  if (name.includes('\0')) p.push(`NUL in ${what} in output`);
  return p;
}

/** A flattened rootfs: no markers of any kind may be left in it. */
export function logicalFromRootfs(root: string): { tree: Map<string, L>; problems: string[] } {
  const raw = readTree(root);
  const tree = new Map<string, L>();
  const problems: string[] = [];
  for (const [p, n] of raw) {
    if (n.type === 'socket' || n.type === 'other') {
      problems.push(`unexpected ${n.type} at ${shown(p)}`);
      continue;
    }
    if (n.type === 'char' && n.major === 0 && n.minor === 0) problems.push(`a 0/0 device (whiteout) left at ${shown(p)}`);
    if (baseOf(p).startsWith('.wh.')) problems.push(`a '.wh.' marker left at ${shown(p)}`);
    for (const k of n.xattrs.keys()) if (LIVE.test(k)) problems.push(`live overlay xattr ${k} on ${shown(p)}`);
    tree.set(p, fromNode(n.type, n, false, n.xattrs));
  }
  return { tree, problems };
}

function sameBytes(a: Buffer | undefined, b: string | Buffer | undefined): boolean {
  if (b === undefined) return true;
  const bb = Buffer.isBuffer(b) ? b : Buffer.from(b, 'latin1');
  return a !== undefined && a.equals(bb);
}

function compareNode(p: string, x: X, l: L, all: Map<string, L>): string[] {
  const d: string[] = [];
  const where = shown(p);
  if (x.t !== l.t) return [`${where}: expected ${x.t}, got ${l.t}`];
  if (x.t === 'whiteout') return d;
  if (x.t === 'file') {
    if (!sameBytes(l.content, x.content)) d.push(`${where}: content ${JSON.stringify(l.content?.toString('latin1').slice(0, 60))}, expected ${JSON.stringify(Buffer.from(x.content ?? '').toString('latin1').slice(0, 60))}`);
  }
  if ((x.t === 'file' || x.t === 'symlink') && x.same !== undefined) {
    const o = all.get(x.same);
    if (!o || o.id !== l.id) d.push(`${where}: expected a hard link to ${shown(x.same)}`);
  }
  if (x.t === 'symlink' && l.target !== x.target) d.push(`${where}: symlink to ${shown(l.target ?? '')}, expected ${shown(x.target)}`);
  if ((x.t === 'char' || x.t === 'block') && (l.major !== x.major || l.minor !== x.minor)) d.push(`${where}: device ${l.major}/${l.minor}, expected ${x.major}/${x.minor}`);
  const wantOpaque = x.t === 'dir' && x.opaque === true;
  if (l.opaque !== wantOpaque) d.push(`${where}: ${wantOpaque ? 'not opaque, expected opaque' : 'opaque, expected not'}`);
  if (x.mode !== undefined && l.mode !== x.mode) d.push(`${where}: mode ${l.mode.toString(8)}, expected ${x.mode.toString(8)}`);
  if (x.uid !== undefined && l.uid !== x.uid) d.push(`${where}: uid ${l.uid}, expected ${x.uid}`);
  if (x.gid !== undefined && l.gid !== x.gid) d.push(`${where}: gid ${l.gid}, expected ${x.gid}`);
  if (x.mtime !== undefined && Math.abs(l.mtime - x.mtime) > 1e-3) d.push(`${where}: mtime ${l.mtime}, expected ${x.mtime}`);
  const want = new Map(Object.entries(x.xattrs ?? {}));
  const have = [...l.xattrs].filter(([k]) => !k.startsWith('security.selinux'));
  for (const [k, v] of have) {
    if (!want.has(k)) d.push(`${where}: unexpected xattr ${k}=${JSON.stringify(v.toString('latin1'))}`);
    else if (v.toString('latin1') !== want.get(k)) d.push(`${where}: xattr ${k}=${JSON.stringify(v.toString('latin1'))}, expected ${JSON.stringify(want.get(k))}`);
  }
  for (const k of want.keys()) if (!l.xattrs.has(k)) d.push(`${where}: missing xattr ${k}`);
  return d;
}

/**
 * Compare an output with the expected tree. `exact`: the output holds exactly
 * the expected paths (a directory on disk). Otherwise (a tar, which need not
 * list implied directories) the output may leave out directories.
 */
export function compareTree(expected: Tree, actual: Map<string, L>, exact: boolean): string[] {
  const d: string[] = [];
  for (const [p, x] of Object.entries(expected)) {
    const l = actual.get(p);
    if (!l) {
      if (exact || x.t !== 'dir' || (x.t === 'dir' && x.opaque)) d.push(`missing ${shown(p)} (${x.t})`);
      continue;
    }
    d.push(...compareNode(p, x, l, actual));
  }
  for (const p of actual.keys()) {
    if (p === '' || p in expected) continue;
    d.push(`unexpected ${shown(p)} (${actual.get(p)!.t})`);
  }
  return d;
}

/** The rootfs a single layer flattens to: whiteouts vanish, opacity means nothing. */
export function flattenedOf(t: Tree): Tree {
  const out: Tree = {};
  for (const [p, x] of Object.entries(t)) {
    if (x.t === 'whiteout') continue;
    out[p] = x.t === 'dir' ? { ...x, opaque: false } : x;
  }
  return out;
}

/** Read the OCI-form tar `convert --to oci` wrote: `.wh.` markers become whiteouts and opaque dirs. */
export function logicalFromOciTar(entries: ReadEntry[]): { tree: Map<string, L>; problems: string[] } {
  const tree = new Map<string, L>();
  const problems: string[] = [];
  const opaque: string[] = [];
  entries.forEach((e, i) => {
    problems.push(...unsafeName(e.name, 'name'));
    const p = canon(e.name);
    const base = baseOf(p);
    if (parentOf(p).split('/').some((c) => c.startsWith('.wh.'))) problems.push(`a '.wh.' directory component in ${shown(p)}`);
    if (base === '.wh..wh..opq') {
      opaque.push(parentOf(p));
      return;
    }
    const meta = { mode: e.mode & 0o7777, uid: e.uid, gid: e.gid, mtime: e.mtime, opaque: false, xattrs: e.xattrs, id: `entry:${i}` };
    if (base.startsWith('.wh.')) {
      const t = base.slice(4);
      if (t === '' || t === '.' || t === '..' || t.startsWith('.wh.')) problems.push(`invalid whiteout ${shown(p)} in output`);
      tree.set(join(parentOf(p), t), { t: 'whiteout', ...meta });
      return;
    }
    switch (e.typeflag) {
      case '0':
      case '\0':
      case '7':
        place(tree, p, { t: 'file', content: e.data, ...meta });
        return;
      case '5':
        place(tree, p, { t: 'dir', ...meta });
        return;
      case '2':
        place(tree, p, { t: 'symlink', target: e.linkname, ...meta });
        return;
      case '3':
      case '4':
        if (e.typeflag === '3' && e.devmajor === 0 && e.devminor === 0) problems.push(`a 0/0 device ${shown(p)} left in the OCI form`);
        place(tree, p, { t: e.typeflag === '3' ? 'char' : 'block', major: e.devmajor, minor: e.devminor, ...meta });
        return;
      case '6':
        place(tree, p, { t: 'fifo', ...meta });
        return;
      case '1': {
        problems.push(...unsafeName(e.linkname, 'hardlink target'));
        const src = tree.get(canon(e.linkname));
        if (!src || src.t === 'whiteout') {
          problems.push(`hardlink ${shown(p)} to ${shown(e.linkname)}, which the tar does not hold before it`);
          return;
        }
        place(tree, p, { ...src, mode: src.mode, id: src.id });
        return;
      }
      default:
        problems.push(`typeflag ${JSON.stringify(e.typeflag)} at ${shown(p)}`);
    }
  });
  for (const d of opaque) {
    const l = tree.get(d);
    if (l && l.t === 'dir') l.opaque = true;
    else if (d !== '') tree.set(d, { t: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, opaque: true, xattrs: new Map(), id: `opq:${d}` });
  }
  return { tree, problems };
}
