/**
 * Writes a merged root filesystem into a directory. Plain entries only: the
 * merge has already decided what shows, so unlike a layer writer this one
 * knows nothing of whiteouts, opacity or lower layers, and never marks
 * anything for overlayfs.
 *
 * Safety is the overlay-directory writer's (SPEC.md §6): every directory
 * under the root was made here and `dirs` holds exactly those; an entry is
 * only created inside one of them, and its own name with O_EXCL|O_NOFOLLOW,
 * symlink(2), link(2) or rename(2), none of which follow a symlink at the
 * leaf. So no symlink from the image is followed and nothing lands outside.
 * Attributes go through descriptors or l* calls; symlinks are never chmod'ed.
 */
import fs from 'node:fs';
import type { ContentEntry, DeviceEntry, FileEntry, FifoEntry, HardlinkEntry, Meta, SymlinkEntry } from '../entry.js';
import { defaultMeta } from '../entry.js';
import { WhiteoutError, hasCode, isSystemError } from '../errors.js';
import { makeNode } from '../fs/mknod.js';
import { type NewFile, createNew, finishNew, xattrStep } from '../fs/new-file.js';
import { WriteBehind, writeBody } from '../fs/write-behind.js';
import { lstatSyncOrUndefined } from '../fs/stat.js';
import { readXattrs, removeXattr, writeXattrs } from '../fs/xattr.js';
import { escapeXattrs } from '../overlay/forms.js';
import { ROOT, display, fromText, isWithin, parentOf, toFsPath } from '../paths.js';

export interface RootfsWriteOptions {
  /** Scratch directory on the same file system (device nodes are made there, then renamed in). */
  workDir: string;
  /** Names the output in messages. */
  what: string;
  /** chown to the image's owners (default: when running as root). */
  keepOwners?: boolean;
  /** Body chunks are refilled once the next entry is asked for: what is written behind is copied first (WriteBehind). */
  volatileBodies?: boolean;
}

export class RootfsDirWriter {
  private readonly base: string;
  /** Directories made here that are still directories. */
  private readonly dirs = new Set<string>([ROOT]);
  /** Mode and mtime of each directory, applied at the end, children first (writing into a 0555 directory must still work). */
  private readonly dirMeta = new Map<string, Meta>();
  private readonly keepOwners: boolean;
  /**
   * The owner new objects get anyway, so chown is skipped for it (SPEC.md §10);
   * undefined when the root is setgid (new objects take its group, not ours).
   */
  private readonly ownOwner: { uid: number; gid: number } | undefined;
  entries = 0;
  bytes = 0;
  /** Big bodies are written on the threadpool while the next entries are parsed. */
  private readonly behind: WriteBehind;

  constructor(
    root: string,
    private readonly opts: RootfsWriteOptions,
  ) {
    this.base = fromText(root);
    this.behind = new WriteBehind(opts.volatileBodies ?? false);
    this.keepOwners = opts.keepOwners ?? process.getuid?.() === 0;
    this.dirMeta.set(ROOT, defaultMeta());
    let setgid = true;
    try {
      setgid = (fs.statSync(this.base).mode & 0o2000) !== 0;
    } catch {
      // No root yet: always chown.
    }
    this.ownOwner = setgid || !process.geteuid || !process.getegid ? undefined : { uid: process.geteuid(), gid: process.getegid() };
  }

  /** chown only to an owner a new object does not already have. */
  private chownNeeded(m: Meta): boolean {
    return this.keepOwners && (this.ownOwner === undefined || m.uid !== this.ownOwner.uid || m.gid !== this.ownOwner.gid);
  }

  private abs(p: string): Buffer {
    return toFsPath(p === ROOT ? this.base : `${this.base}/${p}`);
  }

  async add(e: ContentEntry): Promise<void> {
    this.entries++;
    try {
      await this.write(e);
    } catch (err) {
      throw this.ioError(err, e.path);
    }
  }

  /** Say which entry the system refused, in one line. */
  private ioError(err: unknown, path: string): unknown {
    if (isSystemError(err)) {
      const why = err.message.split('\n')[0]?.split(',')[0]?.replace(/^([A-Z]+): (.*)$/, '$2 ($1)') ?? err.code;
      return new WhiteoutError(`${this.opts.what}: '${display(path)}'`, why, 'io');
    }
    return err;
  }

  private async write(e: ContentEntry): Promise<void> {
    switch (e.kind) {
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

  /** Parents the merge has not given yet (it emits top layer first): made now, their metadata comes later. */
  private async ensureDir(p: string): Promise<void> {
    if (this.dirs.has(p)) return;
    await this.ensureDir(parentOf(p));
    await this.makeDir(p, defaultMeta());
  }

  private async makeDir(p: string, meta: Meta): Promise<void> {
    const target = this.abs(p);
    // Syscalls in line, as in the layer writer (SPEC.md §10): through the threadpool they
    // queued behind gunzip's work and flatten sat idle two thirds of the time.
    try {
      fs.mkdirSync(target, 0o700);
    } catch (err) {
      if (!hasCode(err, 'EEXIST')) throw err;
      await this.removeExisting(p);
      fs.mkdirSync(target, 0o700);
    }
    this.dirs.add(p);
    await this.applyOwnerAndXattrs(target, meta);
    this.dirMeta.set(p, meta);
  }

  private async addDir(p: string, meta: Meta): Promise<void> {
    if (this.dirs.has(p)) {
      // Directory over directory: the later entry's attributes replace the earlier ones, xattrs included.
      const target = this.abs(p);
      const keep = escapeXattrs(meta.xattrs);
      for (const name of (await readXattrs(target)).keys()) if (!keep.has(name)) await removeXattr(target, name);
      await this.applyOwnerAndXattrs(target, meta);
      this.dirMeta.set(p, meta);
      return;
    }
    await this.ensureDir(parentOf(p));
    await this.makeDir(p, meta);
  }

  private async applyOwnerAndXattrs(target: Buffer, meta: Meta): Promise<void> {
    if (this.chownNeeded(meta)) fs.lchownSync(target, meta.uid, meta.gid);
    await this.setXattrs(target, meta.xattrs);
  }

  /** Image xattrs named like overlayfs's own are stored escaped (SPEC.md §5.1): a rootfs never carries live overlay metadata. */
  private async setXattrs(target: Buffer, xattrs: Map<string, Buffer>): Promise<void> {
    if (xattrs.size === 0) return;
    const stored = escapeXattrs(xattrs);
    try {
      await writeXattrs(target, stored);
    } catch (e) {
      throw this.xattrError(e, stored);
    }
  }

  private xattrError(e: unknown, stored: Map<string, Buffer>): unknown {
    const names = [...stored.keys()].join(', ');
    if (hasCode(e, 'EPERM', 'EACCES')) return new WhiteoutError(this.opts.what, `not permitted to set xattrs ${names}`, 'privilege');
    if (hasCode(e, 'ENOTSUP', 'EOPNOTSUPP')) return new WhiteoutError(this.opts.what, `the target file system does not support the xattrs ${names}`, 'io');
    return e;
  }

  /** Remove what is at `p` (a later entry replaces it); never follows a symlink. */
  private async removeExisting(p: string): Promise<void> {
    const target = this.abs(p);
    const st = lstatSyncOrUndefined(target);
    if (!st) return;
    if (st.isDirectory()) {
      fs.rmSync(target, { recursive: true, force: true });
      for (const d of [...this.dirs]) if (isWithin(d, p)) this.dirs.delete(d);
      for (const d of [...this.dirMeta.keys()]) if (isWithin(d, p)) this.dirMeta.delete(d);
    } else {
      fs.unlinkSync(target);
    }
  }

  private async leaf(p: string): Promise<Buffer> {
    if (p === ROOT) throw new WhiteoutError(this.opts.what, 'a non-directory entry for the root', 'unsafe');
    await this.ensureDir(parentOf(p));
    return this.abs(p);
  }

  /** Run `make`; if the name is taken, remove what is there and run it once more. */
  private async create<T>(p: string, make: () => T): Promise<T> {
    try {
      return make();
    } catch (err) {
      if (!hasCode(err, 'EEXIST')) throw err;
      await this.removeExisting(p);
      return make();
    }
  }

  /** A new file in as few syscalls as its metadata allows (src/fs/new-file.ts). */
  private async addFile(e: FileEntry): Promise<void> {
    const target = await this.leaf(e.path);
    const x = escapeXattrs(e.meta.xattrs);
    // With xattrs to set, the owner keeps write permission until they are (finishNew).
    const fd = await this.create(e.path, () => createNew(target, x.size > 0 ? e.meta.mode | 0o600 : e.meta.mode));
    const meta: NewFile = {
      target,
      mode: e.meta.mode,
      mtime: e.meta.mtime,
      owner: this.chownNeeded(e.meta) ? { uid: e.meta.uid, gid: e.meta.gid } : undefined,
      withFd: xattrStep(x, (err) => this.xattrError(err, x)),
    };
    const wrap = (err: unknown) => this.ioError(err, e.path);
    const finish = () => {
      try {
        finishNew(fd, meta);
      } catch (err) {
        throw wrap(err);
      }
    };
    this.bytes += await writeBody(this.behind, fd, e.size, e.body, finish, wrap);
  }

  private async finishLeaf(target: Buffer, meta: Meta, chmod: boolean): Promise<void> {
    if (this.chownNeeded(meta)) fs.lchownSync(target, meta.uid, meta.gid);
    if (chmod) fs.chmodSync(target, meta.mode);
    await this.setXattrs(target, meta.xattrs);
    fs.lutimesSync(target, meta.mtime, meta.mtime);
  }

  private async addSymlink(e: SymlinkEntry): Promise<void> {
    const target = await this.leaf(e.path);
    await this.create(e.path, () => fs.symlinkSync(toFsPath(e.target), target));
    // No chmod: it would follow the link.
    await this.finishLeaf(target, e.meta, false);
  }

  private async addHardlink(e: HardlinkEntry): Promise<void> {
    const target = await this.leaf(e.path);
    const bad = (why: string) => new WhiteoutError(this.opts.what, `hardlink '${display(e.path)}' → '${display(e.target)}': ${why}`, 'input');
    // The source must be something written here, inside our own directories: never a path through a symlink.
    if (e.target === ROOT || e.target === e.path || !this.dirs.has(parentOf(e.target))) throw bad('the target was not written');
    const st = lstatSyncOrUndefined(this.abs(e.target));
    if (!st || st.isDirectory()) throw bad(st ? 'the target is a directory' : 'the target was not written');
    await this.create(e.path, () => fs.linkSync(this.abs(e.target), target));
  }

  private async addNode(e: DeviceEntry | FifoEntry): Promise<void> {
    const target = await this.leaf(e.path);
    if (lstatSyncOrUndefined(target)) await this.removeExisting(e.path);
    const [major, minor] = e.kind === 'fifo' ? [0, 0] : [e.major, e.minor];
    await makeNode(this.opts.workDir, target, e.kind, major, minor);
    await this.finishLeaf(target, e.meta, true);
  }

  /** Directory modes and times, deepest first, the root last. */
  async finish(): Promise<void> {
    // Every body written and every file closed before the directories' modes and times.
    await this.behind.drain();
    const byDepth = [...this.dirMeta.keys()].filter((p) => this.dirs.has(p)).sort((a, b) => depth(b) - depth(a));
    for (const p of byDepth) {
      const meta = this.dirMeta.get(p) as Meta;
      const target = this.abs(p);
      fs.chmodSync(target, meta.mode);
      fs.utimesSync(target, meta.mtime, meta.mtime);
    }
  }
}

function depth(p: string): number {
  if (p === ROOT) return -1;
  let n = 0;
  for (const c of p) if (c === '/') n++;
  return n;
}
