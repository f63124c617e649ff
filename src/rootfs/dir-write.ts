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
import type { FileHandle } from 'node:fs/promises';
import type { ContentEntry, DeviceEntry, FileEntry, FifoEntry, HardlinkEntry, Meta, SymlinkEntry } from '../entry.js';
import { defaultMeta } from '../entry.js';
import { WhiteoutError, hasCode, isSystemError } from '../errors.js';
import { makeNode } from '../fs/mknod.js';
import { lstatOrUndefined } from '../fs/stat.js';
import { readXattrs, removeXattr, writeXattrs, writeXattrsFd } from '../fs/xattr.js';
import { escapeXattrs } from '../overlay/forms.js';
import { ROOT, display, fromText, isWithin, parentOf, toFsPath } from '../paths.js';

const O_CREATE_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

export interface RootfsWriteOptions {
  /** Scratch directory on the same file system (device nodes are made there, then renamed in). */
  workDir: string;
  /** Names the output in messages. */
  what: string;
  /** chown to the image's owners (default: when running as root). */
  keepOwners?: boolean;
}

export class RootfsDirWriter {
  private readonly base: string;
  /** Directories made here that are still directories. */
  private readonly dirs = new Set<string>([ROOT]);
  /** Mode and mtime of each directory, applied at the end, children first (writing into a 0555 directory must still work). */
  private readonly dirMeta = new Map<string, Meta>();
  private readonly keepOwners: boolean;
  entries = 0;
  bytes = 0;

  constructor(
    root: string,
    private readonly opts: RootfsWriteOptions,
  ) {
    this.base = fromText(root);
    this.keepOwners = opts.keepOwners ?? process.getuid?.() === 0;
    this.dirMeta.set(ROOT, defaultMeta());
  }

  private abs(p: string): Buffer {
    return toFsPath(p === ROOT ? this.base : `${this.base}/${p}`);
  }

  async add(e: ContentEntry): Promise<void> {
    this.entries++;
    try {
      await this.write(e);
    } catch (err) {
      // Say which entry the system refused, in one line.
      if (isSystemError(err)) {
        const why = err.message.split('\n')[0]?.split(',')[0]?.replace(/^([A-Z]+): (.*)$/, '$2 ($1)') ?? err.code;
        throw new WhiteoutError(`${this.opts.what}: '${display(e.path)}'`, why, 'io');
      }
      throw err;
    }
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
    try {
      await fs.promises.mkdir(target, 0o700);
    } catch (err) {
      if (!hasCode(err, 'EEXIST')) throw err;
      await this.removeExisting(p);
      await fs.promises.mkdir(target, 0o700);
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
    if (this.keepOwners) await fs.promises.lchown(target, meta.uid, meta.gid);
    await this.setXattrs(target, meta.xattrs);
  }

  /** Image xattrs named like overlayfs's own are stored escaped (SPEC.md §5.1): a rootfs never carries live overlay metadata. */
  private async setXattrs(target: Buffer, xattrs: Map<string, Buffer>, fd?: number): Promise<void> {
    if (xattrs.size === 0) return;
    const stored = escapeXattrs(xattrs);
    try {
      if (fd === undefined) await writeXattrs(target, stored);
      else await writeXattrsFd(fd, stored);
    } catch (e) {
      const names = [...stored.keys()].join(', ');
      if (hasCode(e, 'EPERM', 'EACCES')) throw new WhiteoutError(this.opts.what, `not permitted to set xattrs ${names}`, 'privilege');
      if (hasCode(e, 'ENOTSUP', 'EOPNOTSUPP')) throw new WhiteoutError(this.opts.what, `the target file system does not support the xattrs ${names}`, 'io');
      throw e;
    }
  }

  /** Remove what is at `p` (a later entry replaces it); never follows a symlink. */
  private async removeExisting(p: string): Promise<void> {
    const target = this.abs(p);
    const st = await lstatOrUndefined(target);
    if (!st) return;
    if (st.isDirectory()) {
      await fs.promises.rm(target, { recursive: true, force: true });
      for (const d of [...this.dirs]) if (isWithin(d, p)) this.dirs.delete(d);
      for (const d of [...this.dirMeta.keys()]) if (isWithin(d, p)) this.dirMeta.delete(d);
    } else {
      await fs.promises.unlink(target);
    }
  }

  private async leaf(p: string): Promise<Buffer> {
    if (p === ROOT) throw new WhiteoutError(this.opts.what, 'a non-directory entry for the root', 'unsafe');
    await this.ensureDir(parentOf(p));
    return this.abs(p);
  }

  /** Run `make`; if the name is taken, remove what is there and run it once more. */
  private async create<T>(p: string, make: () => Promise<T>): Promise<T> {
    try {
      return await make();
    } catch (err) {
      if (!hasCode(err, 'EEXIST')) throw err;
      await this.removeExisting(p);
      return make();
    }
  }

  private async addFile(e: FileEntry): Promise<void> {
    const target = await this.leaf(e.path);
    const fh: FileHandle = await this.create(e.path, () => fs.promises.open(target, O_CREATE_FILE, 0o600));
    try {
      for await (const chunk of e.body) {
        await fh.write(chunk, 0, chunk.length);
        this.bytes += chunk.length;
      }
      // chown clears setuid/setgid and file capabilities, so it goes first, and xattrs after the mode.
      if (this.keepOwners) await fh.chown(e.meta.uid, e.meta.gid);
      await fh.chmod(e.meta.mode);
      await this.setXattrs(target, e.meta.xattrs, fh.fd);
      await fh.utimes(e.meta.mtime, e.meta.mtime);
    } finally {
      await fh.close();
    }
  }

  private async finishLeaf(target: Buffer, meta: Meta, chmod: boolean): Promise<void> {
    if (this.keepOwners) await fs.promises.lchown(target, meta.uid, meta.gid);
    if (chmod) await fs.promises.chmod(target, meta.mode);
    await this.setXattrs(target, meta.xattrs);
    await fs.promises.lutimes(target, meta.mtime, meta.mtime);
  }

  private async addSymlink(e: SymlinkEntry): Promise<void> {
    const target = await this.leaf(e.path);
    await this.create(e.path, () => fs.promises.symlink(toFsPath(e.target), target));
    // No chmod: it would follow the link.
    await this.finishLeaf(target, e.meta, false);
  }

  private async addHardlink(e: HardlinkEntry): Promise<void> {
    const target = await this.leaf(e.path);
    const bad = (why: string) => new WhiteoutError(this.opts.what, `hardlink '${display(e.path)}' → '${display(e.target)}': ${why}`, 'input');
    // The source must be something written here, inside our own directories: never a path through a symlink.
    if (e.target === ROOT || e.target === e.path || !this.dirs.has(parentOf(e.target))) throw bad('the target was not written');
    const st = await lstatOrUndefined(this.abs(e.target));
    if (!st || st.isDirectory()) throw bad(st ? 'the target is a directory' : 'the target was not written');
    await this.create(e.path, () => fs.promises.link(this.abs(e.target), target));
  }

  private async addNode(e: DeviceEntry | FifoEntry): Promise<void> {
    const target = await this.leaf(e.path);
    if (await lstatOrUndefined(target)) await this.removeExisting(e.path);
    const [major, minor] = e.kind === 'fifo' ? [0, 0] : [e.major, e.minor];
    await makeNode(this.opts.workDir, target, e.kind, major, minor);
    await this.finishLeaf(target, e.meta, true);
  }

  /** Directory modes and times, deepest first, the root last. */
  async finish(): Promise<void> {
    const byDepth = [...this.dirMeta.keys()].filter((p) => this.dirs.has(p)).sort((a, b) => depth(b) - depth(a));
    for (const p of byDepth) {
      const meta = this.dirMeta.get(p) as Meta;
      const target = this.abs(p);
      await fs.promises.chmod(target, meta.mode);
      await fs.promises.utimes(target, meta.mtime, meta.mtime);
    }
  }
}

function depth(p: string): number {
  if (p === ROOT) return -1;
  let n = 0;
  for (const c of p) if (c === '/') n++;
  return n;
}
