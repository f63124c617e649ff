/**
 * The overlay form carried in a tar: what `tar --xattrs --xattrs-include='*'`
 * of an overlay diff directory gives. Whiteouts are 0/0 character devices
 * (hard links to one of them count too: the kernel links every whiteout to a
 * shared inode), opaque directories carry `SCHILY.xattr.<ns>.overlay.opaque=y`,
 * and, in directories marked `opaque=x`, an empty file with `<ns>.overlay.whiteout`
 * is a whiteout too. SPEC.md §convert.
 */
import type { ContentEntry, Entry, Meta } from '../entry.js';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, ancestors, baseOf, display, isWithin, normalizeName, parentOf } from '../paths.js';
import { readTar } from '../tar/read.js';
import type { TarHeader, TarLimits, TarWriteEntry } from '../tar/types.js';
import { writeTar } from '../tar/write.js';
import { activeNamespace, escapeXattrs, splitDiskXattrs } from '../overlay/forms.js';
import { PathMap } from '../path-index.js';
import { HardlinkCheck } from './limits.js';
import { planOpaque, planWhiteouts, type PathKind } from './rules.js';
import { contentEntry, where } from './oci-read.js';
import { contentHeader, markerHeader } from './oci-write.js';

export interface OverlayTarOptions {
  name: string;
  userxattr: boolean;
  onWarning?: WarningSink;
  limits?: Partial<TarLimits>;
  /** The consumer writes each chunk before asking for the next: the writer refills one batch buffer (WriteTarOptions.reuse). */
  reuse?: boolean;
}

/** Read a tar in the overlay form as neutral entries. */
export async function* readOverlayTar(tar: AsyncIterable<Buffer>, opts: OverlayTarOptions): AsyncGenerator<Entry> {
  const ns = activeNamespace(opts.userxattr);
  const whiteoutPaths = new Set<string>();
  const xwhiteoutDirs = new Set<string>();
  const opaqueDirs = new Set<string>();
  for await (const t of readTar(tar, { name: opts.name, limits: opts.limits ?? {} })) {
    const h = t.header;
    const w = where(opts.name, h);
    const path = normalizeName(h.name, w);
    if (path.split('/').some((c) => c.startsWith(WHITEOUT_PREFIX))) {
      throw new WhiteoutError(w, `a real file named '${display(baseOf(path))}' cannot be held by an OCI layer`, 'unrepresentable');
    }
    if (path === ROOT && h.type !== 'dir') throw new WhiteoutError(w, `refusing to turn the layer root into a ${h.type}`, 'unsafe');
    const { data, live } = splitDiskXattrs(h.xattrs, opts.userxattr, () => w);
    const inOpaque = [...ancestors(path)].some((a) => opaqueDirs.has(a));
    const isWhiteout =
      (h.type === 'char' && h.devmajor === 0 && h.devminor === 0) ||
      (h.type === 'hardlink' && whiteoutPaths.has(normalizeName(h.linkname, w))) ||
      (h.type === 'file' && h.size === 0 && live.has('whiteout') && xwhiteoutDirs.has(parentOf(path)));
    if (isWhiteout) {
      whiteoutPaths.add(path);
      if (!inOpaque) yield { kind: 'whiteout', path };
      continue;
    }
    const e = contentEntry(t, path, w);
    if (e.kind === 'whiteout' || e.kind === 'opaque') continue;
    const implied = e.kind === 'dir' && e.meta.pax?.has(IMPLIED_RECORD) === true;
    const pax = e.meta.pax ? new Map([...e.meta.pax].filter(([k]) => k !== IMPLIED_RECORD)) : undefined;
    e.meta = { ...e.meta, xattrs: data, ...(pax && pax.size > 0 ? { pax } : { pax: undefined }) };
    if (!implied) yield e;
    if (e.kind === 'dir') {
      const v = live.get('opaque')?.toString('latin1');
      if (v === 'x') xwhiteoutDirs.add(path);
      if (v === 'y' && path !== ROOT) {
        opaqueDirs.add(path);
        yield { kind: 'opaque', path };
      }
    }
  }
  void ns;
}

/**
 * Write entries as a tar in the overlay form. The layer rules need the whole
 * layer before a marker can be decided, and an opaque xattr must ride on its
 * directory's own header, so this reads the layer twice: `open()` is called
 * once to plan and once to write. Memory is bounded by the number of paths.
 */
export async function* writeOverlayTar(open: () => AsyncIterable<Entry>, opts: OverlayTarOptions): AsyncGenerator<Buffer> {
  const ns = activeNamespace(opts.userxattr);
  // Pass 1: what the layer holds. A path the layer ever puts a non-directory at stays 'nondir':
  // that entry replaced the lower path whole, so the rules drop markers at and below it, even if a
  // directory comes back there later (it is fresh) — markers hit the lower layers first.
  // One number a path, in a PathMap (outside the JS heap: two Maps and a Set of a million paths took
  // convert past 300 MB): the bits below.
  const paths = new PathMap();
  const whiteouts = new Set<string>();
  const opaque = new Set<string>();
  // Directories that replace a non-directory the same layer wrote first: new and opaque (SPEC §6).
  const fresh = new Set<string>();
  // A tar-to-tar writer is where a hard link that points nowhere would go unnoticed (SPEC.md §8).
  const hardlinks = new HardlinkCheck(opts.name, paths, NONDIR_NOW);
  const isNondir = (p: string) => ((paths.get(p) ?? 0) & NONDIR) !== 0;
  const explicitDir = (p: string) => ((paths.get(p) ?? 0) & EXPLICIT_DIR) !== 0;
  for await (const e of open()) {
    if (e.kind === 'whiteout') whiteouts.add(e.path);
    else if (e.kind === 'opaque') opaque.add(e.path);
    else {
      // Records the entry and its parents in `paths` too (their NONDIR_NOW bit): every parent is in it from here on.
      hardlinks.see(e);
      for (const a of ancestors(e.path)) if (isNondir(a)) fresh.add(a);
      if (e.kind === 'dir' && isNondir(e.path)) fresh.add(e.path);
      // A non-directory removes what this layer had at and below its path.
      if (e.kind !== 'dir') for (const d of fresh) if (isWithin(d, e.path)) fresh.delete(d);
      const v = paths.get(e.path) ?? 0;
      paths.set(e.path, e.kind === 'dir' ? v | EXPLICIT_DIR : v | NONDIR);
      if (e.kind === 'file') for await (const _ of e.body) void _;
    }
  }
  if (opaque.has(ROOT)) {
    throw new WhiteoutError(opts.name, `'${OPAQUE_MARKER}' at the layer root: overlayfs cannot make a layer root opaque`, 'unrepresentable');
  }
  const kindOf = (p: string): PathKind => {
    const v = paths.get(p);
    return v === undefined ? 'absent' : v & NONDIR ? 'nondir' : 'dir';
  };
  const opaquePlan = await planOpaque(opaque, kindOf);
  opaque.clear();
  for (const d of opaquePlan.kept) opaque.add(d);
  for (const d of opaque) for (const a of [d, ...ancestors(d)]) paths.set(a, (paths.get(a) ?? 0) & ~NONDIR);
  const plan = await planWhiteouts(whiteouts, opaque, kindOf);
  for (const d of plan.madeOpaque) opaque.add(d);
  for (const d of fresh) opaque.add(d);
  const stored = new Set(plan.whiteouts);

  // Pass 2: write, with markers folded into the form.
  const written = new Set<string>();
  const freshState = new Map<string, 'dir' | 'nondir'>();
  const opaqueXattr = (x: Map<string, Buffer>) => new Map([...x, [`${ns}opaque`, Buffer.from('y')]]);
  // A directory the layer whited out and then implies is new: its defaults are its real
  // attributes. One that only has an opaque marker keeps the lower one's: say so.
  const syntheticDir = (path: string): TarWriteEntry => {
    const pax = whiteouts.has(path) || fresh.has(path) ? new Map<string, Buffer>() : new Map([[IMPLIED_RECORD, Buffer.from('1')]]);
    const meta: Meta = { mode: 0o755, uid: 0, gid: 0, mtime: 0, xattrs: new Map(), pax };
    return { header: contentHeader({ kind: 'dir', path, meta }, opaqueXattr(meta.xattrs)) };
  };
  // A marker at a path that becomes a fresh directory later in the layer does not write the
  // directory where the marker stands: the non-directory it replaces may still be the target of
  // hardlinks that come before the directory's first child. The fresh rule below writes it then.
  async function* entries(): AsyncGenerator<TarWriteEntry> {
    for await (const e of open()) {
      if (e.kind === 'whiteout') {
        if (stored.has(e.path) && !written.has(e.path)) {
          written.add(e.path);
          yield { header: deviceHeader(e.path) };
        } else if (opaque.has(e.path) && !explicitDir(e.path) && !fresh.has(e.path) && !written.has(e.path)) {
          written.add(e.path);
          yield syntheticDir(e.path);
        }
        continue;
      }
      if (e.kind === 'opaque') {
        if (opaque.has(e.path) && !explicitDir(e.path) && !fresh.has(e.path) && !written.has(e.path)) {
          written.add(e.path);
          yield syntheticDir(e.path);
        }
        continue;
      }
      if (e.kind === 'char' && e.major === 0 && e.minor === 0) {
        throw new WhiteoutError(opts.name, `'${display(e.path)}' is a character device 0/0, which the overlay form reads as a whiteout`, 'unrepresentable');
      }
      // A fresh directory gets a header of its own before its first child, when the
      // last thing written at its path was the non-directory it replaces.
      for (const a of [...ancestors(e.path)].reverse()) {
        if (fresh.has(a) && freshState.get(a) !== 'dir') {
          freshState.set(a, 'dir');
          yield syntheticDir(a);
        }
      }
      if (fresh.has(e.path)) freshState.set(e.path, e.kind === 'dir' ? 'dir' : 'nondir');
      const x = escapeXattrs(e.meta.xattrs);
      const c: ContentEntry = e;
      yield { header: contentHeader(c, c.kind === 'dir' && opaque.has(c.path) ? opaqueXattr(x) : x), ...(c.kind === 'file' ? { body: c.body } : {}) };
    }
  }
  yield* writeTar(entries(), { reuse: opts.reuse ?? false });
}

/**
 * A directory the overlay form needs only to carry an opaque xattr (the OCI
 * layer had a marker but no entry for it). The record lets `--to oci` give back
 * the marker alone, so the lower directory's attributes stay; other readers
 * ignore an unknown PAX record.
 */
export const IMPLIED_RECORD = 'WHITEOUT.implied';

/** writeOverlayTar's bits for a path: the layer ever had a non-directory there; had an entry for the directory; a non-directory is there now (HardlinkCheck's). */
const NONDIR = 1;
const EXPLICIT_DIR = 2;
const NONDIR_NOW = 4;

/** A whiteout in the overlay form: a 0/0 character device, mode 0, owner 0:0, mtime 0. */
function deviceHeader(path: string): TarHeader {
  return { ...markerHeader(path), type: 'char' };
}
