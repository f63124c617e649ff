// The benchmark checks what it times: a fast wrong answer must not look good.
// `whiteout unpack`'s directory is compared with GNU tar's extraction of the
// same layer, after mapping the OCI markers to their overlay form
// (`.wh.X` → 0/0 char device at X; `.wh..wh..opq` → trusted.overlay.opaque=y
// on its directory). The generator never puts a whiteout where the layer
// rules (SPEC.md §4) would drop or reinterpret it, so the mapping is exact.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';

// fs-xattr is already a dependency of the project (the overlay writer uses it).
const require = createRequire(import.meta.url);
/** @type {{ listAttributesSync(p: string): string[], getAttributeSync(p: string, a: string): Buffer }} */
const xattr = require('fs-xattr');

/**
 * @typedef {object} Node
 * @property {'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket'} type
 * @property {number} mode  permission bits incl. setuid/setgid/sticky
 * @property {number} uid
 * @property {number} gid
 * @property {number} size
 * @property {number} mtime seconds
 * @property {number} ino
 * @property {number} nlink
 * @property {number} rdev
 * @property {string} [target]
 * @property {string[]} [xattrs]  name=value (dirs and files only; xattrs of symlinks are not read)
 */

/** @param {fs.Stats} st @returns {Node['type']} */
function typeOf(st) {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return 'socket';
}

/** Every entry under root, by relative path ('' is the root). @param {string} root @returns {Map<string, Node>} */
export function walk(root) {
  /** @type {Map<string, Node>} */
  const out = new Map();
  /** @param {string} rel */
  const visit = (rel) => {
    const abs = rel ? path.join(root, rel) : root;
    const st = fs.lstatSync(abs);
    const type = typeOf(st);
    /** @type {Node} */
    const n = { type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: type === 'file' ? st.size : 0, mtime: Math.floor(st.mtimeMs / 1000), ino: st.ino, nlink: st.nlink, rdev: st.rdev };
    if (type === 'symlink') n.target = fs.readlinkSync(abs);
    if (type === 'dir' || type === 'file') {
      const names = xattr.listAttributesSync(abs);
      if (names.length) n.xattrs = names.map((a) => `${a}=${xattr.getAttributeSync(abs, a).toString('latin1')}`).sort();
    }
    out.set(rel, n);
    if (type === 'dir') for (const c of fs.readdirSync(abs).sort()) visit(rel ? `${rel}/${c}` : c);
  };
  visit('');
  return out;
}

/** @param {string} file */
function sha(file) {
  const h = crypto.createHash('sha256');
  const fd = fs.openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  try {
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      if (!n) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}

/** @param {Map<string, Node>} tree @param {(p: string, n: Node) => boolean} include */
function linkGroups(tree, include) {
  /** @type {Map<number, string[]>} */
  const by = new Map();
  for (const [p, n] of tree) {
    if (n.nlink < 2 || !include(p, n)) continue;
    const g = by.get(n.ino);
    if (g) g.push(p);
    else by.set(n.ino, [p]);
  }
  return new Set([...by.values()].map((g) => g.sort().join('\0')));
}

/**
 * Compare whiteout's overlay dir with GNU tar's extraction of the same layer.
 * Returns a list of differences (empty: identical up to the marker mapping).
 * @param {string} gnuDir @param {string} woDir @param {{hashAll?: boolean}} [o]
 */
export function compareUnpack(gnuDir, woDir, o = {}) {
  const gnu = walk(gnuDir);
  const wo = walk(woDir);
  /** @type {Map<string, Node | {type: 'whiteout'}>} */
  const want = new Map();
  /** @type {Set<string>} */
  const opaque = new Set();
  for (const [p, n] of gnu) {
    const base = path.posix.basename(p);
    const dir = path.posix.dirname(p) === '.' ? '' : path.posix.dirname(p);
    if (base === '.wh..wh..opq') opaque.add(dir);
    else if (base.startsWith('.wh.')) want.set(dir ? `${dir}/${base.slice(4)}` : base.slice(4), { type: 'whiteout' });
    else want.set(p, n);
  }
  /** @type {string[]} */
  const diffs = [];
  const d = (/** @type {string} */ s) => diffs.length < 50 && diffs.push(s);
  for (const p of want.keys()) if (!wo.has(p)) d(`missing in whiteout's tree: ${p || '/'}`);
  for (const p of wo.keys()) if (!want.has(p)) d(`extra in whiteout's tree: ${p || '/'}`);
  let hashed = 0;
  for (const [p, w] of want) {
    const n = wo.get(p);
    if (!n) continue;
    const at = p || '/';
    if (w.type === 'whiteout') {
      if (n.type !== 'char' || n.rdev !== 0) d(`${at}: want a 0/0 char device (whiteout), got ${n.type} rdev ${n.rdev}`);
      continue;
    }
    const g = /** @type {Node} */ (w);
    if (g.type !== n.type) {
      d(`${at}: type ${g.type} vs ${n.type}`);
      continue;
    }
    if (g.mode !== n.mode && g.type !== 'symlink') d(`${at}: mode ${g.mode.toString(8)} vs ${n.mode.toString(8)}`);
    if (g.uid !== n.uid || g.gid !== n.gid) d(`${at}: owner ${g.uid}:${g.gid} vs ${n.uid}:${n.gid}`);
    if (g.size !== n.size) d(`${at}: size ${g.size} vs ${n.size}`);
    if (g.mtime !== n.mtime) d(`${at}: mtime ${g.mtime} vs ${n.mtime}`);
    if (g.target !== n.target) d(`${at}: symlink target ${g.target} vs ${n.target}`);
    const wantX = [...(g.xattrs ?? []), ...(opaque.has(p) ? ['trusted.overlay.opaque=y'] : [])].sort().join(', ');
    const gotX = (n.xattrs ?? []).join(', ');
    if (wantX !== gotX) d(`${at}: xattrs [${wantX}] vs [${gotX}]`);
    // Contents: every file (the point is to catch a wrong byte, and sha256 of a warm tree is quick),
    // or every 8th plus every multiply-linked one when hashAll is off.
    if (g.type === 'file' && (o.hashAll !== false || g.nlink > 1 || hashed % 8 === 0)) {
      if (sha(path.join(gnuDir, p)) !== sha(path.join(woDir, p))) d(`${at}: content differs`);
    }
    if (g.type === 'file') hashed++;
  }
  const gl = linkGroups(gnu, (_p, n) => n.type === 'file' && !path.posix.basename(_p).startsWith('.wh.'));
  // whiteout hard-links all its 0/0 devices to one inode (as the kernel does): not a layer hard link
  const wl = linkGroups(wo, (_p, n) => n.type === 'file');
  for (const g of gl) if (!wl.has(g)) d(`hard-link group missing in whiteout's tree: ${g.split('\0').join(' = ')}`);
  for (const g of wl) if (!gl.has(g)) d(`unexpected hard-link group in whiteout's tree: ${g.split('\0').join(' = ')}`);
  return { diffs, entries: wo.size, files: hashed, whiteouts: [...want.values()].filter((w) => w.type === 'whiteout').length, opaque: opaque.size };
}

/** Names in a tar, normalised (no ./, no trailing /, no root). @param {string} tarFile */
export function tarNames(tarFile) {
  const out = execFileSync('tar', ['-tf', tarFile], { maxBuffer: 1 << 30 }).toString('latin1');
  const s = new Set();
  for (const line of out.split('\n')) {
    const n = line.replace(/^(\.\/)+/, '').replace(/\/$/, '');
    if (n && n !== '.') s.add(n);
  }
  return s;
}

/** @param {Set<string>} want @param {Set<string>} got @param {string} what */
export function compareNameSets(want, got, what) {
  const diffs = [];
  for (const n of want) if (!got.has(n) && diffs.length < 20) diffs.push(`${what}: missing ${n}`);
  for (const n of got) if (!want.has(n) && diffs.length < 40) diffs.push(`${what}: extra ${n}`);
  return diffs;
}

/**
 * A flattened rootfs against the model's prediction (path and type).
 * @param {string} rootfs @param {string} expectedJson
 */
export function compareRootfs(rootfs, expectedJson) {
  /** @type {[string, string][]} */
  const expected = JSON.parse(fs.readFileSync(expectedJson, 'utf8'));
  const got = walk(rootfs);
  got.delete('');
  const diffs = [];
  const want = new Map(expected);
  for (const [p, t] of want) {
    const n = got.get(p);
    if (!n) diffs.push(`missing ${p}`);
    else if (n.type !== t) diffs.push(`${p}: type ${t} vs ${n.type}`);
    if (diffs.length > 30) break;
  }
  for (const p of got.keys()) if (!want.has(p) && diffs.length < 60) diffs.push(`extra ${p}`);
  return { diffs, entries: got.size };
}

/**
 * Two trees extracted the same way (flatten's and umoci's rootfs; a layer and
 * its pack round trip): types, modes, owners, sizes, mtimes, targets, contents.
 * With markersMetaFree, `.wh.*` files are compared by presence only: a marker's
 * metadata means nothing and pack writes fixed values (SPEC.md §7).
 * @param {string} a @param {string} b @param {{markersMetaFree?: boolean, mtimes?: boolean}} [o]
 */
export function compareTrees(a, b, o = {}) {
  const ta = walk(a);
  const tb = walk(b);
  const diffs = [];
  for (const [p, x] of ta) {
    const y = tb.get(p);
    if (!y) {
      diffs.push(`only in ${a}: ${p}`);
    } else if (o.markersMetaFree && path.posix.basename(p).startsWith('.wh.')) {
      if (x.type !== y.type || x.size !== y.size) diffs.push(`${p}: marker differs`);
    } else {
      const what = [];
      if (x.type !== y.type) what.push(`type ${x.type}/${y.type}`);
      if (x.size !== y.size) what.push(`size ${x.size}/${y.size}`);
      if (x.target !== y.target) what.push(`target ${x.target}/${y.target}`);
      if (x.type !== 'symlink' && x.mode !== y.mode) what.push(`mode ${x.mode.toString(8)}/${y.mode.toString(8)}`);
      if (x.uid !== y.uid || x.gid !== y.gid) what.push(`owner ${x.uid}:${x.gid}/${y.uid}:${y.gid}`);
      if (o.mtimes !== false && p !== '' && x.mtime !== y.mtime) what.push(`mtime ${x.mtime}/${y.mtime}`);
      if (!what.length && x.type === 'file' && sha(path.join(a, p)) !== sha(path.join(b, p))) what.push('content');
      if (what.length) diffs.push(`${p || '/'}: ${what.join(', ')}`);
    }
    if (diffs.length > 40) break;
  }
  for (const p of tb.keys()) if (!ta.has(p) && diffs.length < 60) diffs.push(`only in ${b}: ${p}`);
  return diffs;
}
