// Plans the layers: which paths, types, sizes and metadata, before any byte is
// written. Planning is separate from writing so the image generator can keep a
// model of the merged tree (what `umoci unpack` must produce) and so every
// whiteout can be placed where the OCI layer rules give it one meaning only
// (SPEC.md §4): never for a path its own layer adds, never inside an opaque
// dir of its own layer, never below another whiteout. Then "GNU tar's tree with
// `.wh.X` mapped to a 0/0 device" is exactly what `whiteout unpack` must make.
import path from 'node:path';

/** @typedef {import('./content.js').Kind} Kind */
/**
 * @typedef {object} Spec
 * @property {string} path  relative, no leading ./ or /
 * @property {'dir' | 'file' | 'symlink' | 'hardlink' | 'whiteout' | 'opaque'} type
 * @property {number} mode
 * @property {number} uid
 * @property {number} gid
 * @property {number} mtime  whole seconds, so GNU tar writes no PAX time records
 * @property {number} [size]
 * @property {Kind} [kind]
 * @property {number} [seed]
 * @property {string} [target]  symlink target, or hardlink target path
 */
/**
 * @typedef {object} BaseCounts
 * @property {number} dirs
 * @property {number} files
 * @property {number} symlinks
 * @property {number} hardlinks
 * @property {number} whiteouts
 * @property {number} opaques
 * @property {number} bytes  approximate total of file contents
 */
/**
 * @typedef {object} UpperCounts
 * @property {number} adds
 * @property {number} newDirs
 * @property {number} modifies
 * @property {number} deletes
 * @property {number} dirDeletes
 * @property {number} opaques
 * @property {number} symlinks
 * @property {number} hardlinks
 * @property {number} bigFiles
 */

const SKELETON = ['usr', 'usr/bin', 'usr/sbin', 'usr/lib', 'usr/lib/x86_64-linux-gnu', 'usr/share', 'usr/share/doc', 'usr/share/locale', 'usr/share/man', 'usr/include', 'usr/libexec', 'usr/local', 'usr/local/lib', 'etc', 'var', 'var/lib', 'var/cache', 'opt'];
const EXT = {
  text: ['.h', '.py', '.txt', '.conf', '.pl', '.md', '', '.json', '.xml', '.rb', '.service'],
  bin: ['.so', '.so.1', '.so.6', '', '', '.a', '.mo', '.ko', '.pyc'],
  rand: ['.gz', '.png', '.jpg', '.xz', '.zst'],
};
const SYLL = ['lib', 'core', 'gtk', 'net', 'x', 'ssl', 'py', 'sys', 'conf', 'data', 'util', 'font', 'icon', 'perl', 'dbus', 'gnu', 'pam', 'krb', 'glib', 'z', 'ma', 'ke', 'ri', 'to', 'su', 'ne', 'lo', 'va', 'di', 'po'];
const T0 = 1600000000;

/** @param {import('./rng.js').Rng} rng */
function baseName(rng) {
  let s = '';
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) s += rng.pick(SYLL);
  if (rng.next() < 0.3) s += rng.pick(['-', '_', '.']) + rng.pick(SYLL);
  if (rng.next() < 0.25) s += String(rng.int(40));
  return s;
}

/** Names per directory, so every new name is fresh (and a whiteout's X never exists in its layer). */
class Names {
  constructor() {
    /** @type {Map<string, Set<string>>} */
    this.children = new Map();
  }
  /** @param {string} p */
  reserve(p) {
    const d = path.posix.dirname(p);
    const key = d === '.' ? '' : d;
    let s = this.children.get(key);
    if (!s) this.children.set(key, (s = new Set()));
    s.add(path.posix.basename(p));
  }
  /** @param {import('./rng.js').Rng} rng @param {string} dir @param {string} ext */
  fresh(rng, dir, ext) {
    const s = this.children.get(dir);
    for (;;) {
      const name = baseName(rng) + ext;
      if (name.startsWith('.wh.') || (s && (s.has(name) || s.has(`.wh.${name}`)))) continue;
      const p = dir ? `${dir}/${name}` : name;
      this.reserve(p);
      return p;
    }
  }
}

/** @param {string} p */
const depth = (p) => (p === '' ? 0 : p.split('/').length);

/** @param {import('./rng.js').Rng} rng */
function owner(rng) {
  if (rng.next() < 0.97) return { uid: 0, gid: 0 };
  const id = rng.pick([1, 100, 102, 1000, 65534]);
  return { uid: id, gid: rng.next() < 0.8 ? id : 0 };
}

/** @param {import('./rng.js').Rng} rng */
function dirMode(rng) {
  const r = rng.next();
  return r < 0.01 ? 0o700 : r < 0.013 ? 0o1777 : r < 0.018 ? 0o2775 : r < 0.03 ? 0o775 : 0o755;
}

/** @param {import('./rng.js').Rng} rng @param {Kind} kind */
function fileMode(rng, kind) {
  const r = rng.next();
  if (r < 0.001) return 0o4755;
  if (r < 0.002) return 0o2755;
  if (r < 0.02) return 0o600;
  if (r < 0.04) return 0o444;
  return kind === 'bin' && rng.next() < 0.5 ? 0o755 : 0o644;
}

/** Log-normal, median ~3 KB: most files small, a long tail (a distro's /usr). @param {import('./rng.js').Rng} rng */
function smallSize(rng) {
  if (rng.next() < 0.02) return 0;
  return Math.max(1, Math.min(8 << 20, Math.round(3000 * Math.exp(1.8 * rng.normal()))));
}

/** @param {import('./rng.js').Rng} rng */
function pickKind(rng) {
  const r = rng.next();
  return /** @type {Kind} */ (r < 0.55 ? 'bin' : r < 0.92 ? 'text' : 'rand');
}

/** Weighted choice by cumulative weights (a few dirs hold many files, as in /usr/share/locale). */
class Weighted {
  /** @param {import('./rng.js').Rng} rng @param {string[]} items */
  constructor(rng, items) {
    this.items = items;
    /** @type {number[]} */
    this.cum = [];
    let t = 0;
    for (let i = 0; i < items.length; i++) this.cum.push((t += Math.exp(1.3 * rng.normal())));
    this.total = t;
  }
  /** @param {import('./rng.js').Rng} rng */
  pick(rng) {
    const x = rng.next() * this.total;
    let lo = 0, hi = this.cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (/** @type {number} */ (this.cum[mid]) < x) lo = mid + 1;
      else hi = mid;
    }
    return /** @type {string} */ (this.items[lo]);
  }
}

/** @param {string} p @param {Iterable<string>} roots */
function underAny(p, roots) {
  for (const r of roots) if (p === r || p.startsWith(`${r}/`)) return true;
  return false;
}

/**
 * Files, then make `bytes` by promoting a few files to multi-MB ones.
 * @param {import('./rng.js').Rng} rng @param {Names} names @param {Weighted} where @param {number} n @param {number} mtimeBase
 * @returns {Spec[]}
 */
function makeFiles(rng, names, where, n, mtimeBase) {
  /** @type {Spec[]} */
  const out = [];
  for (let i = 0; i < n; i++) {
    const kind = pickKind(rng);
    const p = names.fresh(rng, where.pick(rng), rng.pick(EXT[kind]));
    out.push({ path: p, type: 'file', kind, size: smallSize(rng), seed: rng.u32(), mode: fileMode(rng, kind), ...owner(rng), mtime: mtimeBase + rng.int(60_000_000) });
  }
  return out;
}

/** @param {import('./rng.js').Rng} rng @param {Spec[]} files @param {number} want */
function promoteBig(rng, files, want) {
  let total = files.reduce((a, f) => a + (f.size ?? 0), 0);
  let guard = 0;
  while (total < want * 0.98 && files.length && guard++ < 10000) {
    const f = /** @type {Spec} */ (rng.pick(files));
    if ((f.size ?? 0) > 1 << 20) continue;
    // log-uniform 2–48 MB, never overshooting the target by much
    const big = Math.min(Math.round(Math.exp(Math.log(2 << 20) + rng.next() * Math.log(24))), Math.max(1 << 20, want - total));
    total += big - (f.size ?? 0);
    f.size = big;
    f.kind = rng.next() < 0.9 ? 'bin' : rng.next() < 0.5 ? 'text' : 'rand';
  }
  return total;
}

/** @param {import('./rng.js').Rng} rng @param {Spec[]} files @param {Names} names @param {Weighted} where @param {number} n @param {number} mtime @param {string[]} dirs */
function makeSymlinks(rng, files, names, where, n, mtime, dirs) {
  /** @type {Spec[]} */
  const out = [];
  for (let i = 0; i < n; i++) {
    const p = names.fresh(rng, where.pick(rng), rng.next() < 0.5 ? '.so' : '');
    const r = rng.next();
    let target;
    if (r < 0.5 && files.length) target = path.posix.relative(path.posix.dirname(p), /** @type {Spec} */ (rng.pick(files)).path) || '.';
    else if (r < 0.75 && files.length) target = `/${/** @type {Spec} */ (rng.pick(files)).path}`;
    else if (r < 0.9) target = path.posix.relative(path.posix.dirname(p), /** @type {string} */ (rng.pick(dirs))) || '.';
    else target = `../missing/${baseName(rng)}`; // dangling, as some are in real images
    out.push({ path: p, type: 'symlink', target, mode: 0o777, ...owner(rng), mtime });
  }
  return out;
}

/** @param {import('./rng.js').Rng} rng @param {Spec[]} files @param {Names} names @param {Weighted} where @param {number} n */
function makeHardlinks(rng, files, names, where, n) {
  /** @type {Spec[]} */
  const out = [];
  for (let i = 0; i < n && files.length; i++) {
    const t = /** @type {Spec} */ (rng.pick(files));
    const p = names.fresh(rng, where.pick(rng), path.posix.extname(t.path));
    out.push({ path: p, type: 'hardlink', target: t.path, mode: t.mode, uid: t.uid, gid: t.gid, mtime: t.mtime });
  }
  return out;
}

/**
 * A self-contained layer (the big one, the 10,000-whiteout one, an image's base).
 * @param {import('./rng.js').Rng} rng @param {BaseCounts} c @returns {Spec[]}
 */
export function planBase(rng, c) {
  const names = new Names();
  /** @type {Spec[]} */
  const dirs = [];
  const mtime = T0 + rng.int(60_000_000);
  for (const d of SKELETON.slice(0, Math.min(SKELETON.length, c.dirs))) {
    names.reserve(d);
    dirs.push({ path: d, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime });
  }
  // Random tree, capped at depth 8 so files sit 3–8 levels deep.
  while (dirs.length < c.dirs) {
    const cand = dirs.filter((d) => depth(d.path) < 8);
    const parent = /** @type {Spec} */ (rng.pick(cand.length > 64 ? cand.slice(-Math.max(64, cand.length >> 1)).concat(cand) : cand)).path;
    dirs.push({ path: names.fresh(rng, parent, ''), type: 'dir', mode: dirMode(rng), ...owner(rng), mtime: T0 + rng.int(60_000_000) });
  }
  const deepDirs = dirs.filter((d) => depth(d.path) >= 2).map((d) => d.path);
  const where = new Weighted(rng, deepDirs);
  const files = makeFiles(rng, names, where, c.files, T0);
  promoteBig(rng, files, c.bytes);
  const syms = makeSymlinks(rng, files, names, where, c.symlinks, mtime, deepDirs);
  const hard = makeHardlinks(rng, files, names, where, c.hardlinks);
  // Opaque dirs first; whiteouts keep out of them (a whiteout there would be dropped, SPEC §4).
  const opq = [];
  const opqCand = deepDirs.filter((d) => depth(d) >= 3);
  for (let i = 0; i < c.opaques && opqCand.length; i++) opq.push(/** @type {string} */ (rng.pick(opqCand)));
  const opaqueSet = [...new Set(opq)];
  /** @type {Spec[]} */
  const markers = opaqueSet.map((d) => ({ path: `${d}/.wh..wh..opq`, type: 'opaque', mode: 0o644, uid: 0, gid: 0, mtime }));
  const whDirs = deepDirs.filter((d) => !underAny(d, opaqueSet));
  const whWhere = new Weighted(rng, whDirs);
  for (let i = 0; i < c.whiteouts; i++) {
    const x = names.fresh(rng, whWhere.pick(rng), '');
    markers.push({ path: `${path.posix.dirname(x)}/.wh.${path.posix.basename(x)}`, type: 'whiteout', mode: 0o644, uid: 0, gid: 0, mtime });
  }
  return [...dirs, ...files, ...syms, ...hard, ...markers];
}

/**
 * A layer on top of `state` (the merged tree so far): deletes files and whole
 * dirs, makes dirs opaque with new content, modifies and adds files. Parent
 * dirs of every entry are written with their current metadata, as a
 * container diff does.
 * @param {import('./rng.js').Rng} rng @param {Map<string, Spec>} state @param {UpperCounts} c @param {number} layerMtime
 * @returns {Spec[]}
 */
export function planUpper(rng, state, c, layerMtime) {
  const names = new Names();
  for (const p of state.keys()) names.reserve(p);
  const allDirs = [...state.values()].filter((s) => s.type === 'dir').map((s) => s.path);
  const notFile = new Set(['dir', 'symlink']);
  const allFiles = [...state.values()].filter((s) => !notFile.has(s.type)).map((s) => s.path);
  /** @type {string[]} */
  const dirDeletes = [];
  const delCand = allDirs.filter((d) => depth(d) >= 4);
  for (let i = 0; i < c.dirDeletes && delCand.length; i++) {
    const d = /** @type {string} */ (rng.pick(delCand));
    if (!underAny(d, dirDeletes) && !dirDeletes.some((x) => x.startsWith(`${d}/`))) dirDeletes.push(d);
  }
  /** @type {string[]} */
  const opaques = [];
  const opqCand = allDirs.filter((d) => depth(d) >= 3 && !underAny(d, dirDeletes) && !dirDeletes.some((x) => x.startsWith(`${d}/`)));
  for (let i = 0; i < c.opaques && opqCand.length; i++) {
    const d = /** @type {string} */ (rng.pick(opqCand));
    if (!underAny(d, opaques) && !opaques.some((x) => x.startsWith(`${d}/`))) opaques.push(d);
  }
  const blocked = [...dirDeletes, ...opaques];
  const liveFiles = allFiles.filter((f) => !underAny(f, blocked));
  const deletes = new Set();
  for (let i = 0; i < c.deletes && liveFiles.length; i++) deletes.add(rng.pick(liveFiles));
  /** @type {Spec[]} */
  const out = [];
  for (let i = 0; i < c.modifies && liveFiles.length; i++) {
    const p = /** @type {string} */ (rng.pick(liveFiles));
    if (deletes.has(p) || out.some((s) => s.path === p)) continue;
    const kind = pickKind(rng);
    out.push({ path: p, type: 'file', kind, size: smallSize(rng), seed: rng.u32(), mode: fileMode(rng, kind), ...owner(rng), mtime: layerMtime });
  }
  const liveDirs = allDirs.filter((d) => depth(d) >= 2 && !underAny(d, blocked));
  /** @type {Spec[]} */
  const newDirs = [];
  for (let i = 0; i < c.newDirs; i++) {
    const parent = rng.next() < 0.3 && newDirs.length ? /** @type {Spec} */ (rng.pick(newDirs)).path : /** @type {string} */ (rng.pick(liveDirs));
    if (depth(parent) >= 8) continue;
    newDirs.push({ path: names.fresh(rng, parent, ''), type: 'dir', mode: dirMode(rng), ...owner(rng), mtime: layerMtime });
  }
  const where = new Weighted(rng, [...liveDirs, ...newDirs.map((d) => d.path)]);
  const added = makeFiles(rng, names, where, c.adds, layerMtime - 1000);
  // New content for each opaque dir (what `rm -rf d && mkdir d && cp …` leaves).
  for (const o of opaques) added.push(...makeFiles(rng, names, new Weighted(rng, [o]), 1 + rng.int(6), layerMtime - 1000));
  for (let i = 0; i < c.bigFiles && added.length; i++) {
    const f = /** @type {Spec} */ (rng.pick(added));
    f.size = Math.round(Math.exp(Math.log(2 << 20) + rng.next() * Math.log(15)));
    f.kind = 'bin';
  }
  out.push(...newDirs, ...added);
  out.push(...makeSymlinks(rng, added, names, where, c.symlinks, layerMtime, liveDirs));
  out.push(...makeHardlinks(rng, added, names, where, c.hardlinks));
  for (const o of opaques) out.push({ path: `${o}/.wh..wh..opq`, type: 'opaque', mode: 0o644, uid: 0, gid: 0, mtime: layerMtime });
  for (const p of [...dirDeletes, ...deletes]) {
    out.push({ path: `${path.posix.dirname(p)}/.wh.${path.posix.basename(p)}`, type: 'whiteout', mode: 0o644, uid: 0, gid: 0, mtime: layerMtime });
  }
  // Parent dirs (and the opaque dirs themselves) keep their metadata from below.
  const have = new Set(out.map((s) => s.path));
  const parents = new Set(opaques);
  for (const s of out) for (let d = path.posix.dirname(s.path); d !== '.'; d = path.posix.dirname(d)) parents.add(d);
  for (const d of parents) {
    if (have.has(d)) continue;
    const prev = state.get(d);
    if (!prev) throw new Error(`bench plan: no parent ${d}`);
    out.push({ ...prev });
  }
  return out;
}

/**
 * Apply one OCI layer to the model of the merged tree (layer.md): opaque
 * markers first, then whiteouts, then the layer's own entries.
 * @param {Map<string, Spec>} state @param {Spec[]} layer
 */
export function applyLayer(state, layer) {
  const gone = [];
  for (const s of layer) {
    if (s.type === 'opaque') gone.push({ dir: path.posix.dirname(s.path), self: false });
    else if (s.type === 'whiteout') gone.push({ dir: `${path.posix.dirname(s.path)}/${path.posix.basename(s.path).slice(4)}`, self: true });
  }
  if (gone.length) {
    for (const p of [...state.keys()]) {
      for (const g of gone) {
        if ((g.self && p === g.dir) || p.startsWith(`${g.dir}/`)) {
          state.delete(p);
          break;
        }
      }
    }
  }
  for (const s of layer) if (s.type !== 'opaque' && s.type !== 'whiteout') state.set(s.path, s);
}
