/**
 * The overlay-directory reader: walks an overlay upper or diff directory and
 * yields the layer it holds (SPEC.md §Pack). Every on-disk form is read: 0/0
 * character devices (also when the kernel hard-links them all to one inode),
 * xattr whiteouts in directories marked `opaque=x`, and, with `aufs`, `.wh.`
 * files as fuse-overlayfs keeps them.
 *
 * Order: lexical by bytes within a directory, depth first; a directory's
 * opaque marker right after the directory, then its whiteouts, then the rest
 * (image-spec layer.md: whiteouts SHOULD come before their siblings).
 */
import fs from 'node:fs';
import { FileBody } from '../fs/file-body.js';
import type { ContentEntry, Entry, Meta } from '../entry.js';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { type EntryStats, isWhiteoutDevice, lstatSyncOrUndefined, major, minor, mtimeSeconds, permBits } from '../fs/stat.js';
import { readXattrsSync } from '../fs/xattr.js';
import { type DirScanner, InlineScanner, type ScanThreadOptions, ThreadScanner } from './dir-scan.js';
import { AUFS_META_PREFIX, OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, display, fromText, join, toFsPath } from '../paths.js';
import { FUSE_OVERLAYFS_PREFIX, activeNamespace, splitDiskXattrs } from './forms.js';

export interface OverlayDirReadOptions {
  /** Read `user.overlay.*` as the live namespace (mounts with `-o userxattr`). */
  userxattr: boolean;
  /** Read `.wh.` files as whiteouts (fuse-overlayfs / AUFS form). */
  aufs: boolean;
  what: string;
  onWarning?: WarningSink;
  /**
   * Scan directories ahead on a thread (src/overlay/dir-scan.ts): for a big
   * tree, pack's syscalls beside its main thread. Off by default in the library.
   */
  scanThread?: boolean | ScanThreadOptions;
}

interface Child {
  name: string;
  path: string;
  real: Buffer;
  st: EntryStats;
  xattrs: Map<string, Buffer>;
}

/** What a directory's own state says about its children. */
interface DirState {
  opaque: boolean;
  /** `opaque=x`: regular files in it may be xattr whiteouts. */
  xwhiteouts: boolean;
}

export async function* readOverlayDir(root: string, opts: OverlayDirReadOptions): AsyncGenerator<Entry> {
  yield* readOverlayDirSync(root, opts);
}

/**
 * The same walk without awaiting: every syscall of the walk is made in line, so a
 * consumer that iterates synchronously (pack's tar writer) pays no promise per entry.
 * A file's body must be read, or closed, before the next entry is asked for.
 */
export function* readOverlayDirSync(root: string, opts: OverlayDirReadOptions): Generator<Entry> {
  const reader = new Reader(root, opts);
  try {
    yield* reader.walkRoot();
  } finally {
    reader.close();
  }
}

class Reader {
  private readonly base: string;
  private readonly ns: string;
  private readonly warn: WarningSink;
  /** First path seen for each multiply-linked inode (dev:ino). Whiteouts are never entered. */
  private readonly links = new Map<string, string>();
  private scanner: DirScanner | undefined;

  constructor(
    root: string,
    private readonly opts: OverlayDirReadOptions,
  ) {
    this.base = fromText(root);
    this.ns = activeNamespace(opts.userxattr);
    this.warn = opts.onWarning ?? (() => {});
  }

  private abs(p: string): Buffer {
    return toFsPath(p === ROOT ? this.base : `${this.base}/${p}`);
  }

  *walkRoot(): Generator<Entry> {
    const st = lstatSyncOrUndefined(this.abs(ROOT));
    if (!st) throw new WhiteoutError(this.opts.what, 'no such directory', 'input');
    if (!st.isDirectory()) throw new WhiteoutError(this.opts.what, 'not a directory', 'input');
    const xattrs = readXattrsSync(this.abs(ROOT), false);
    const thread = this.opts.scanThread;
    this.scanner = thread ? new ThreadScanner(this.abs(ROOT), this.opts.what, thread === true ? {} : thread) : new InlineScanner(this.opts.what);
    // The root is never exported (moby, containerd and BuildKit alike): a layer that
    // carried it would reset the image root's owner and mode. The kernel never reads
    // opacity on a layer root, but `opaque=x` there does announce xattr whiteouts.
    const state = this.dirState(ROOT, xattrs);
    yield* this.walk(ROOT, { opaque: false, xwhiteouts: state.xwhiteouts }, false);
  }

  private dirState(path: string, xattrs: Map<string, Buffer>): DirState {
    const v = xattrs.get(`${this.ns}opaque`)?.toString('latin1');
    let opaque = v === 'y';
    if (this.opts.aufs && xattrs.get(`${FUSE_OVERLAYFS_PREFIX}opaque`)?.toString('latin1') === 'y') opaque = true;
    return { opaque: path !== ROOT && opaque, xwhiteouts: v === 'x' };
  }

  close(): void {
    this.scanner?.close();
  }

  /** A directory's children with their stat and xattrs (src/overlay/dir-scan.ts). */
  private children(dir: string): Child[] {
    const scanner = this.scanner ?? new InlineScanner(this.opts.what);
    return scanner.list(dir, this.abs(dir)).map(({ name, st, xattrs }) => {
      const path = join(dir, name);
      return { name, path, real: this.abs(path), st, xattrs };
    });
  }

  private isXattrWhiteout(c: Child, parent: DirState): boolean {
    return parent.xwhiteouts && c.st.isFile() && c.st.size === 0n && c.xattrs.has(`${this.ns}whiteout`);
  }

  private *walk(dir: string, state: DirState, insideOpaque: boolean): Generator<Entry> {
    const kids = this.children(dir);
    const hidesAll = insideOpaque || state.opaque;
    const whiteouts: string[] = [];
    const rest: Child[] = [];
    for (const c of kids) {
      if (c.name.startsWith(WHITEOUT_PREFIX)) {
        if (!this.opts.aufs) {
          throw new WhiteoutError(
            this.opts.what,
            `'${display(c.path)}' is a real file whose name starts with '.wh.', which an OCI layer cannot hold (if this directory is in the AUFS form, pass --whiteouts aufs)`,
            'unrepresentable',
          );
        }
        if (c.name === OPAQUE_MARKER) continue; // read with the directory
        if (c.name.startsWith(AUFS_META_PREFIX)) {
          this.warn(`${this.opts.what}: skipping AUFS metadata '${display(c.path)}'`);
          continue;
        }
        const target = c.name.slice(WHITEOUT_PREFIX.length);
        if (target === '' || target === '.' || target === '..') {
          throw new WhiteoutError(this.opts.what, `invalid whiteout name '${display(c.path)}'`, 'input');
        }
        whiteouts.push(join(dir, target));
        continue;
      }
      if (isWhiteoutDevice(c.st) || this.isXattrWhiteout(c, state)) {
        whiteouts.push(c.path);
        continue;
      }
      if (c.st.isSocket()) {
        this.warn(`${this.opts.what}: skipping socket '${display(c.path)}': a tar cannot hold it`);
        continue;
      }
      rest.push(c);
    }
    // Inside an opaque directory a whiteout hides nothing the directory does not already hide.
    if (!hidesAll) for (const w of whiteouts.sort()) yield { kind: 'whiteout', path: w };
    for (const c of rest) {
      const e = this.content(c);
      yield e;
      if (e.kind === 'dir') {
        const childState = this.dirState(c.path, c.xattrs);
        if (this.opts.aufs && lstatSyncOrUndefined(this.abs(join(c.path, OPAQUE_MARKER)))) childState.opaque = true;
        if (childState.opaque) yield { kind: 'opaque', path: c.path };
        yield* this.walk(c.path, childState, hidesAll || childState.opaque);
      }
    }
  }

  private metaOf(c: Child): Meta {
    return { mode: permBits(c.st), uid: Number(c.st.uid), gid: Number(c.st.gid), mtime: mtimeSeconds(c.st), xattrs: splitDiskXattrs(c.xattrs, this.opts.userxattr, () => `${this.opts.what}: '${display(c.path)}'`).data };
  }

  private content(c: Child): ContentEntry {
    const meta = this.metaOf(c);
    const st = c.st;
    if (st.isDirectory()) return { kind: 'dir', path: c.path, meta };
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) return { kind: 'hardlink', path: c.path, meta, target: first };
      this.links.set(key, c.path);
    }
    if (st.isFile()) {
      const real = c.real;
      const size = Number(st.size);
      return { kind: 'file', path: c.path, meta, size, body: new FileBody(real, size) };
    }
    if (st.isSymbolicLink()) {
      const target = fs.readlinkSync(c.real, { encoding: 'latin1' });
      return { kind: 'symlink', path: c.path, meta, target };
    }
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      return { kind: st.isCharacterDevice() ? 'char' : 'block', path: c.path, meta, major: major(st.rdev), minor: minor(st.rdev) };
    }
    if (st.isFIFO()) return { kind: 'fifo', path: c.path, meta };
    throw new WhiteoutError(this.opts.what, `'${display(c.path)}' has a file type a layer cannot hold`, 'unrepresentable');
  }
}

