/**
 * The overlay-directory writer: turns one layer's entries into a directory that
 * works as an overlayfs lowerdir or upperdir (SPEC.md §Unpack).
 *
 * Safety rests on one fact: every directory under the root was made by this
 * writer, and `dirs` lists exactly those that are still directories. An entry
 * is only ever created inside a directory from that set, and its own name is
 * created with O_EXCL/O_NOFOLLOW, symlink(2), link(2) or rename(2), none of
 * which follow a symlink at the leaf. So no symlink from the layer is ever
 * followed, and nothing is written outside the root.
 *
 * Markers wait until the whole layer has been seen, because the rules that
 * decide them (src/layer/rules.ts) depend on what else the layer holds.
 */
import fs from 'node:fs';
import type { ContentEntry, DeviceEntry, Entry, FileEntry, HardlinkEntry, Meta, SymlinkEntry } from '../entry.js';
import { defaultMeta } from '../entry.js';
import { WhiteoutError, type WarningSink, hasCode } from '../errors.js';
import { type BigStats, lstatOrUndefined, lstatSyncOrUndefined, mtimeSeconds, permBits } from '../fs/stat.js';
import { WhiteoutInodes, makeNode } from '../fs/mknod.js';
import { createNew, finishNew, xattrStep } from '../fs/new-file.js';
import { WRITE_BEHIND_MIN, WriteBehind, writeBody, writeWhole } from '../fs/write-behind.js';
import { takeWhole } from '../tar/types.js';
import { readXattrs, removeXattr, writeXattrs, writeXattrsFdSync } from '../fs/xattr.js';
import { planOpaque, planWhiteouts, type PathKind } from '../layer/rules.js';
import { OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, ancestors, baseOf, display, fromText, isWithin, join, parentOf, toFsPath } from '../paths.js';
import { type OverlayForm, activeNamespace, classifyDiskXattr, escapeXattrs } from './forms.js';
import { OverlayView } from './lookup.js';

export interface OverlayDirWriteOptions {
  form: OverlayForm;
  /** Scratch directory on the same file system as the root, owned by this process. */
  workDir: string;
  /** Layer directories below this one, topmost first: implied directories copy their metadata from here. */
  lowers?: readonly string[];
  /** Name of the input, for messages. */
  what: string;
  onWarning?: WarningSink;
  /** chown to the layer's owners (default: when running as root). */
  keepOwners?: boolean;
  /**
   * Body chunks are refilled by their source once the next is asked for
   * (src/io.ts ReadSourceOptions.reuse): what is written behind is copied first.
   */
  volatileBodies?: boolean;
}

export interface OverlayDirStats {
  entries: number;
  whiteouts: number;
  opaque: number;
  bytes: number;
}

/** Metadata for a directory the writer had to invent, with xattrs already in stored form. */
interface DirMeta {
  meta: Meta;
  /** True when xattrs are as stored on disk (copied from a lower), false when they are image xattrs. */
  stored: boolean;
}

const O_CREATE_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

export class OverlayDirWriter {
  private readonly base: string;
  private readonly dirs = new Set<string>([ROOT]);
  /** Deferred mode and mtime, applied children-first at the end. */
  private readonly dirMeta = new Map<string, DirMeta>();
  private rootMeta: DirMeta | undefined;
  private readonly whiteouts = new Set<string>();
  /** Directories that replaced a non-directory of this layer: opaque, unless removed again. */
  private readonly freshDirs = new Set<string>();
  /** Implied directories whose metadata was copied from a lower layer. */
  private readonly copiedFromLower = new Set<string>();
  private readonly opaque = new Set<string>();
  private readonly inodes: WhiteoutInodes;
  private readonly view: OverlayView | undefined;
  private readonly ns: string;
  private readonly keepOwners: boolean;
  private readonly warn: WarningSink;
  private readonly euid = process.geteuid?.() ?? 0;
  private readonly egid = process.getegid?.() ?? 0;
  /** Big bodies are written on the threadpool while the next entries are parsed. */
  private readonly behind: WriteBehind;
  readonly stats: OverlayDirStats = { entries: 0, whiteouts: 0, opaque: 0, bytes: 0 };

  constructor(
    root: string,
    private readonly opts: OverlayDirWriteOptions,
  ) {
    this.base = fromText(root);
    this.inodes = new WhiteoutInodes(opts.workDir);
    // `lowers: []` means "nothing below"; no `lowers` means "unknown".
    this.view = opts.lowers ? new OverlayView(opts.lowers, opts.form) : undefined;
    this.ns = activeNamespace(opts.form.userxattr);
    this.keepOwners = opts.keepOwners ?? process.getuid?.() === 0;
    this.warn = opts.onWarning ?? (() => {});
    this.behind = new WriteBehind(opts.volatileBodies ?? false);
  }

  private abs(p: string): Buffer {
    return toFsPath(p === ROOT ? this.base : `${this.base}/${p}`);
  }

  /** New objects already belong to this process: chown only to someone else. */
  private chownNeeded(m: Meta): boolean {
    return this.keepOwners && (m.uid !== this.euid || m.gid !== this.egid);
  }

  /** Write every entry of a stream, calling `check` on each first (the layer's limits). */
  async addAll(entries: AsyncIterable<Entry>, check?: (e: Entry) => void): Promise<void> {
    for await (const e of entries) {
      check?.(e);
      const pending = this.add(e);
      if (pending) await pending;
    }
  }

  /**
   * Write one entry. Returns a promise only when there is something to wait
   * for: most entries (markers, small files in a known directory) are done in
   * line, and awaiting a resolved promise per entry was measurable (SPEC.md §10).
   */
  add(e: Entry): Promise<void> | undefined {
    this.stats.entries++;
    switch (e.kind) {
      case 'whiteout':
        this.whiteouts.add(e.path);
        return;
      case 'opaque':
        this.opaque.add(e.path);
        return;
      case 'dir':
        return this.addDir(e.path, e.meta);
      case 'file':
        return this.addFile(e);
      case 'symlink':
        return this.addSymlink(e);
      case 'hardlink':
        return this.addHardlink(e);
      case 'char':
      case 'block':
      case 'fifo':
        return this.addNode(e);
    }
  }

  // ---- directories -------------------------------------------------------

  /** Make sure `p` is one of our directories, creating implied ones on the way. */
  private async ensureDir(p: string): Promise<void> {
    if (this.dirs.has(p)) return;
    const missing: string[] = [];
    let q = p;
    while (!this.dirs.has(q)) {
      missing.push(q);
      q = parentOf(q);
    }
    for (const d of missing.reverse()) {
      await this.makeDir(d, await this.impliedMeta(d), 'implied');
    }
  }

  private async impliedMeta(p: string): Promise<DirMeta> {
    const found = this.view?.lookupSync(p);
    if (found?.stat.isDirectory()) {
      const stored = new Map<string, Buffer>();
      for (const [name, value] of await readXattrs(found.real)) {
        if (classifyDiskXattr(name, this.opts.form.userxattr).kind === 'data') stored.set(name, value);
      }
      const meta: Meta = { mode: permBits(found.stat), uid: Number(found.stat.uid), gid: Number(found.stat.gid), mtime: mtimeSeconds(found.stat), xattrs: stored };
      return { meta, stored: true };
    }
    return { meta: defaultMeta(), stored: false };
  }

  private async makeDir(p: string, given: DirMeta, how: 'entry' | 'implied'): Promise<void> {
    let dm = given;
    const target = this.abs(p);
    try {
      fs.mkdirSync(target, 0o700);
    } catch (err) {
      if (!hasCode(err, 'EEXIST')) throw err;
      const st = await lstatOrUndefined(target);
      if (st?.isDirectory() && this.dirs.has(p)) {
        // Directory over directory: the later entry's attributes replace the earlier ones (layer.md X1),
        // the owner too, even when it is the process's own (the earlier one may have differed).
        if (this.keepOwners && (Number(st.uid) !== dm.meta.uid || Number(st.gid) !== dm.meta.gid)) fs.lchownSync(target, dm.meta.uid, dm.meta.gid);
        await this.applyOwnerAndXattrs(target, dm, true);
        this.dirMeta.set(p, dm);
        return;
      }
      if (how === 'implied') this.warn(`${this.opts.what}: '${display(p)}' is replaced by a directory that a later entry of the same layer needs`);
      await this.removeExisting(p);
      fs.mkdirSync(target, 0o700);
      // The non-directory this layer wrote first replaced whatever was below; the
      // directory that replaces it in turn is new: opaque, with no lower metadata.
      this.freshDirs.add(p);
      if (dm.stored) dm = { meta: defaultMeta(), stored: false };
    }
    if (dm.stored) this.copiedFromLower.add(p);
    this.dirs.add(p);
    this.dirMeta.set(p, dm);
    await this.applyOwnerAndXattrs(target, dm, false);
  }

  private async addDir(p: string, meta: Meta): Promise<void> {
    if (p === ROOT) {
      this.rootMeta = { meta, stored: false };
      return;
    }
    await this.ensureDir(parentOf(p));
    await this.makeDir(p, { meta, stored: false }, 'entry');
  }

  private async applyOwnerAndXattrs(target: Buffer, dm: DirMeta, replace: boolean): Promise<void> {
    if (this.chownNeeded(dm.meta)) fs.lchownSync(target, dm.meta.uid, dm.meta.gid);
    const want = dm.stored ? dm.meta.xattrs : escapeXattrs(dm.meta.xattrs);
    if (replace) {
      const have = await readXattrs(target);
      for (const name of have.keys()) {
        if (!want.has(name) && classifyDiskXattr(name, this.opts.form.userxattr).kind === 'data') await removeXattr(target, name);
      }
    }
    await this.setXattrs(target, want);
  }

  private async setXattrs(target: Buffer, xattrs: Map<string, Buffer>): Promise<void> {
    try {
      await writeXattrs(target, xattrs);
    } catch (e) {
      throw this.xattrError(e, xattrs);
    }
  }

  private xattrError(e: unknown, xattrs: Map<string, Buffer>): unknown {
    if (hasCode(e, 'EPERM', 'EACCES')) {
      const names = [...xattrs.keys()].join(', ');
      // Only the overlay markers have an unprivileged form to point at.
      const hint = [...xattrs.keys()].some((n) => n === `${this.ns}opaque` || n === `${this.ns}whiteout`)
        ? this.opts.form.userxattr
          ? ''
          : ' (unprivileged: try --userxattr, or --whiteouts aufs)'
        : [...xattrs.keys()].some((n) => n.startsWith('trusted.'))
          ? ' (trusted.* xattrs need CAP_SYS_ADMIN: run as root)'
          : '';
      return new WhiteoutError(this.opts.what, `not permitted to set xattrs ${names}${hint}`, 'privilege');
    }
    if (hasCode(e, 'ENOTSUP', 'EOPNOTSUPP')) {
      return new WhiteoutError(this.opts.what, `the target file system does not support the xattrs ${[...xattrs.keys()].join(', ')}`, 'io');
    }
    return e;
  }

  // ---- other content ----------------------------------------------------

  /** Remove what the layer wrote earlier at `p` (a later entry replaces it). */
  private async removeExisting(p: string): Promise<void> {
    const target = this.abs(p);
    const st = await lstatOrUndefined(target);
    if (!st) return;
    if (st.isDirectory()) {
      fs.rmSync(target, { recursive: true, force: true });
      for (const d of this.dirs) if (isWithin(d, p)) this.dirs.delete(d);
      for (const d of this.freshDirs) if (isWithin(d, p)) this.freshDirs.delete(d);
      for (const d of this.dirMeta.keys()) if (isWithin(d, p)) this.dirMeta.delete(d);
      // Markers the layer gave inside the directory went with it: read in order, a later entry that
      // replaces the directory removes what they hid too. Kept, an opaque marker would bring the
      // directory back at the end (property counterexample, test/conformance/regressions.test.ts).
      for (const d of this.opaque) if (isWithin(d, p)) this.opaque.delete(d);
      for (const w of this.whiteouts) if (w !== p && isWithin(w, p)) this.whiteouts.delete(w);
    } else {
      fs.unlinkSync(target);
    }
  }

  private async prepareLeaf(p: string): Promise<Buffer> {
    if (p === ROOT) throw new WhiteoutError(this.opts.what, 'a non-directory entry for the layer root', 'unsafe');
    await this.ensureDir(parentOf(p));
    return this.abs(p);
  }

  private addFile(e: FileEntry): Promise<void> | undefined {
    if (e.size < WRITE_BEHIND_MIN && e.path !== ROOT && !this.dirs.has(e.path) && this.dirs.has(parentOf(e.path))) {
      const whole = takeWhole(e.body);
      if (whole) {
        const { fd, finish } = this.newFile(e, this.abs(e.path));
        this.stats.bytes += writeWhole(fd, whole, finish);
        return undefined;
      }
    }
    return this.addFileStreamed(e);
  }

  private async addFileStreamed(e: FileEntry): Promise<void> {
    if (this.dirs.has(e.path)) await this.removeExisting(e.path);
    const target = await this.prepareLeaf(e.path);
    const { fd, finish } = this.newFile(e, target);
    this.stats.bytes += await writeBody(this.behind, fd, e.size, e.body, finish);
  }

  /** Create the file; `finish` sets owner, xattrs, mode and times, and closes it. */
  private newFile(e: FileEntry, target: Buffer): { fd: number; finish: () => void } {
    const x = escapeXattrs(e.meta.xattrs);
    // With xattrs to set, the owner keeps write permission until they are (finishNew).
    const fd = createNew(target, x.size > 0 ? e.meta.mode | 0o600 : e.meta.mode);
    const owner = this.chownNeeded(e.meta) ? { uid: e.meta.uid, gid: e.meta.gid } : undefined;
    const finish = () =>
      finishNew(fd, {
        target,
        mode: e.meta.mode,
        mtime: e.meta.mtime,
        owner,
        withFd: xattrStep(x, (err) => this.xattrError(err, x)),
      });
    return { fd, finish };
  }

  private async finishLeaf(target: Buffer, e: ContentEntry, chmod: boolean): Promise<void> {
    if (this.chownNeeded(e.meta)) fs.lchownSync(target, e.meta.uid, e.meta.gid);
    await this.setXattrs(target, escapeXattrs(e.meta.xattrs));
    if (chmod) fs.chmodSync(target, e.meta.mode);
    fs.lutimesSync(target, e.meta.mtime, e.meta.mtime);
  }

  private async addSymlink(e: SymlinkEntry): Promise<void> {
    if (e.target === '') {
      throw new WhiteoutError(this.opts.what, `symlink '${display(e.path)}' has an empty target, which Linux cannot store`, 'unrepresentable');
    }
    const target = await this.prepareLeaf(e.path);
    const linkTarget = toFsPath(e.target);
    try {
      fs.symlinkSync(linkTarget, target);
    } catch (err) {
      if (!hasCode(err, 'EEXIST')) throw err;
      await this.removeExisting(e.path);
      fs.symlinkSync(linkTarget, target);
    }
    // No chmod: symlink permissions mean nothing on Linux, and chmod would follow the link.
    await this.finishLeaf(target, e, false);
  }

  private async addHardlink(e: HardlinkEntry): Promise<void> {
    const source = e.target;
    const notHere = (why: string) =>
      new WhiteoutError(this.opts.what, `hardlink '${display(e.path)}' → '${display(source)}': ${why}`, 'input');
    if (source !== e.path && isWithin(source, e.path)) throw notHere('the target is inside the path the link replaces');
    const target = await this.prepareLeaf(e.path);
    if (source === e.path) throw notHere('links to itself');
    // The source must be an object this layer wrote inside our own directories, never a path through a symlink.
    if (source === ROOT || !this.dirs.has(parentOf(source))) throw notHere('the target is not in this layer');
    const st = await lstatOrUndefined(this.abs(source));
    if (!st) throw notHere('the target is not in this layer');
    if (st.isDirectory()) throw notHere('the target is a directory');
    // link(2) does not follow a symlink source on Linux: a link to a symlink is a link to the symlink itself.
    try {
      fs.linkSync(this.abs(source), target);
    } catch (err) {
      if (!hasCode(err, 'EEXIST')) throw err;
      await this.removeExisting(e.path);
      fs.linkSync(this.abs(source), target);
    }
  }

  private async addNode(e: DeviceEntry | (ContentEntry & { kind: 'fifo' })): Promise<void> {
    if (e.kind === 'char' && e.major === 0 && e.minor === 0) {
      throw new WhiteoutError(
        this.opts.what,
        `'${display(e.path)}' is a character device 0/0, which overlayfs would read as a whiteout; an overlay layer cannot hold it`,
        'unrepresentable',
      );
    }
    const target = await this.prepareLeaf(e.path);
    if (await lstatOrUndefined(target)) await this.removeExisting(e.path);
    const [maj, min] = e.kind === 'fifo' ? [0, 0] : [e.major, e.minor];
    await makeNode(this.opts.workDir, target, e.kind, maj, min);
    await this.finishLeaf(target, e, true);
  }

  // ---- the end of the layer -------------------------------------------------

  private kindOf(p: string): PathKind {
    if (this.dirs.has(p)) return 'dir';
    const parent = parentOf(p);
    // Below a path that is not one of our directories, the layer holds nothing.
    if (!this.dirs.has(parent)) return 'absent';
    return lstatSyncOrUndefined(this.abs(p)) ? 'nondir' : 'absent';
  }

  async finish(): Promise<OverlayDirStats> {
    // Every body written and every file closed before the markers and the directories' times.
    await this.behind.drain();
    const opaquePlan = await planOpaque(this.opaque, (p) => this.kindOf(p));
    this.opaque.clear();
    for (const d of opaquePlan.kept) this.opaque.add(d);
    for (const d of this.freshDirs) this.opaque.add(d);
    // Opaque markers apply first and imply their directory.
    for (const d of opaquePlan.kept) if (d !== ROOT) await this.ensureDir(d);

    // Whether the layer itself wrote a non-directory at a whiteout's own path is learnt when the
    // whiteout is stored (link or O_EXCL open fails with EEXIST), not with an lstat per whiteout first.
    // The `.wh.X` files of the aufs form do not collide with X, so that form asks.
    const storeTells = this.opts.form.whiteouts !== 'aufs';
    const plan = await planWhiteouts(this.whiteouts, this.opaque, (p) => (storeTells && this.whiteouts.has(p) && !this.dirs.has(p) ? 'absent' : this.kindOf(p)));
    for (const d of plan.madeOpaque) this.opaque.add(d);
    if (this.view) {
      // With the layers below known, a whiteout of something that is not there would only
      // invent its parent directories in the merged view (BuildKit's checkDelete does the same).
      const kept: string[] = [];
      for (const w of plan.whiteouts) if (this.view.lookupSync(w)) kept.push(w);
      plan.whiteouts = kept;
    }
    await this.forgetHiddenLowers();

    if (this.opaque.has(ROOT)) await this.rootOpaque(plan.whiteouts);

    const xwhiteoutDirs = new Set<string>();
    let stored = 0;
    // Awaited only when there is something to wait for (a missing parent, a new shared inode): an
    // async call per whiteout was ~15 ms of storing 10,000 (SPEC.md §10).
    for (const w of plan.whiteouts) {
      const parent = parentOf(w);
      if (!this.dirs.has(parent)) await this.ensureDir(parent);
      let done = this.storeWhiteout(w);
      if (done === undefined) {
        await this.inodes.renew();
        done = this.storeWhiteout(w);
        if (done === undefined) throw new WhiteoutError(this.opts.what, `cannot link whiteout '${display(w)}' to a new 0/0 device (too many links)`, 'io');
      }
      // Already taken: the same layer adds a non-directory there, so it stays (src/layer/rules.ts).
      if (!done) continue;
      stored++;
      if (this.opts.form.whiteouts === 'xattr') xwhiteoutDirs.add(parent);
    }
    this.stats.whiteouts = stored;

    for (const d of [...this.opaque].sort()) {
      if (d === ROOT) continue;
      this.stats.opaque++;
      if (this.opts.form.whiteouts === 'aufs') await this.emptyFile(join(d, OPAQUE_MARKER));
      else await this.setXattrs(this.abs(d), new Map([[`${this.ns}opaque`, Buffer.from('y')]]));
    }
    // A directory that holds xattr whiteouts says so, or the kernel does not look for them (6.7+: opaque=x).
    for (const d of xwhiteoutDirs) await this.setXattrs(this.abs(d), new Map([[`${this.ns}opaque`, Buffer.from('x')]]));

    await this.applyDirMeta();
    return this.stats;
  }

  /**
   * An implied directory took the metadata of the directory below it; if this
   * layer's own markers hide that directory (a whiteout of it or an ancestor, an
   * opaque ancestor), it is a new directory after all and gets the defaults.
   */
  private async forgetHiddenLowers(): Promise<void> {
    for (const p of this.copiedFromLower) {
      const dm = this.dirMeta.get(p);
      if (!dm?.stored || !this.dirs.has(p)) continue;
      let hidden = this.whiteouts.has(p);
      for (const a of ancestors(p)) if (this.whiteouts.has(a) || this.opaque.has(a)) hidden = true;
      if (!hidden) continue;
      const fresh: DirMeta = { meta: defaultMeta(), stored: false };
      if (this.keepOwners) fs.lchownSync(this.abs(p), fresh.meta.uid, fresh.meta.gid);
      await this.applyOwnerAndXattrs(this.abs(p), fresh, true);
      this.dirMeta.set(p, fresh);
    }
  }

  /**
   * overlayfs never reads opacity on a layer root, so a root opaque marker
   * becomes what it means: every name visible below is whited out, and every
   * directory this layer adds at the top is opaque. That needs the lowers.
   */
  private async rootOpaque(whiteouts: string[]): Promise<void> {
    if (this.opts.form.whiteouts === 'aufs') {
      await this.emptyFile(OPAQUE_MARKER);
      return;
    }
    if (!this.view) {
      throw new WhiteoutError(
        this.opts.what,
        `'.wh..wh..opq' at the layer root: overlayfs cannot make a layer root opaque; give the layers below (--lower) or use --whiteouts aufs`,
        'unrepresentable',
      );
    }
    for (const [name] of this.view.listSync(ROOT)) {
      const k = this.kindOf(name);
      if (k === 'dir') this.opaque.add(name);
      else if (k === 'absent') whiteouts.push(name);
    }
    whiteouts.sort();
  }

  /**
   * Store one whiteout, in line; false when the layer already put a non-directory at its path,
   * undefined when the device form needs a new shared inode first (the first whiteout, or EMLINK).
   */
  private storeWhiteout(w: string): boolean | undefined {
    const target = this.abs(w);
    switch (this.opts.form.whiteouts) {
      case 'device':
        try {
          return this.inodes.linkSync(target) ? true : undefined;
        } catch (err) {
          if (hasCode(err, 'EEXIST')) return false;
          throw err;
        }
      case 'xattr': {
        let fd: number;
        try {
          // Writable while the xattr goes on (unprivileged user.* needs it), then mode 0.
          fd = fs.openSync(target, O_CREATE_FILE, 0o600);
        } catch (err) {
          if (hasCode(err, 'EEXIST')) return false;
          throw err;
        }
        const x = new Map([[`${this.ns}whiteout`, Buffer.alloc(0)]]);
        try {
          writeXattrsFdSync(fd, x);
          fs.fchmodSync(fd, 0);
        } catch (err) {
          throw this.xattrError(err, x);
        } finally {
          fs.closeSync(fd);
        }
        return true;
      }
      case 'aufs':
        this.emptyFileSync(join(parentOf(w), WHITEOUT_PREFIX + baseOf(w)));
        return true;
    }
  }

  private emptyFileSync(p: string): void {
    fs.closeSync(fs.openSync(this.abs(p), O_CREATE_FILE, 0o000));
  }

  private async emptyFile(p: string): Promise<void> {
    const fh = await fs.promises.open(this.abs(p), O_CREATE_FILE, 0o000);
    await fh.close();
  }

  private async applyDirMeta(): Promise<void> {
    const dirs = [...this.dirMeta.entries()].reverse();
    for (const [p, dm] of dirs) {
      if (!this.dirs.has(p)) continue;
      const target = this.abs(p);
      fs.chmodSync(target, dm.meta.mode);
      fs.utimesSync(target, dm.meta.mtime, dm.meta.mtime);
    }
    const root = this.rootMeta ?? (await this.impliedMeta(ROOT));
    const target = this.abs(ROOT);
    await this.applyOwnerAndXattrs(target, root, true);
    fs.chmodSync(target, root.meta.mode);
    fs.utimesSync(target, root.meta.mtime, root.meta.mtime);
  }
}

/** Convenience: write a whole entry stream into `root` and finish. */
export async function writeOverlayDir(entries: AsyncIterable<Entry>, root: string, opts: OverlayDirWriteOptions): Promise<OverlayDirStats> {
  const w = new OverlayDirWriter(root, opts);
  await w.addAll(entries);
  return w.finish();
}

export type { BigStats };
