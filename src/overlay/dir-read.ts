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
import { AUFS_META_PREFIX, OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, baseOf, display, fromText, join, parentOf, toFsPath } from '../paths.js';
import { FUSE_OVERLAYFS_PREFIX, activeNamespace, splitDiskXattrs } from './forms.js';
import { type Found, type LayerDir, OverlayView, checkedRedirect } from './lookup.js';

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
  /**
   * The layer directories below this one, topmost first (as in `lowerdir=`):
   * a `metacopy` file's data is then read from the layer that holds it.
   */
  lowers?: readonly string[];
}

interface Child {
  name: string;
  path: string;
  real: Buffer;
  st: EntryStats;
  xattrs: Map<string, Buffer>;
  /**
   * Inside a renamed directory: the object's path in the layers below (where a
   * metacopy file's data is looked for), and for an object that is itself from
   * a layer below, that layer's index.
   */
  lower?: { path: string; layer?: number; below?: readonly LayerDir[] };
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
  private readonly scanner: DirScanner;
  /** The layers below, when given: where a metacopy file's data is. */
  private readonly view: OverlayView | undefined;

  constructor(
    root: string,
    private readonly opts: OverlayDirReadOptions,
  ) {
    this.base = fromText(root);
    this.ns = activeNamespace(opts.userxattr);
    this.warn = opts.onWarning ?? (() => {});
    // The layers below are in the same form as this one (a stack made by one mount setup).
    this.view = opts.lowers && opts.lowers.length > 0 ? new OverlayView(opts.lowers, { whiteouts: opts.aufs ? 'aufs' : 'xattr', userxattr: opts.userxattr }) : undefined;
    // A thread scanner starts its thread only once the walk has listed enough in line (src/overlay/dir-scan.ts).
    const thread = opts.scanThread;
    this.scanner = thread ? new ThreadScanner(this.abs(ROOT), opts.what, thread === true ? {} : thread) : new InlineScanner(opts.what);
  }

  private abs(p: string): Buffer {
    return toFsPath(p === ROOT ? this.base : `${this.base}/${p}`);
  }

  *walkRoot(): Generator<Entry> {
    const st = lstatSyncOrUndefined(this.abs(ROOT));
    if (!st) throw new WhiteoutError(this.opts.what, 'no such directory', 'input');
    if (!st.isDirectory()) throw new WhiteoutError(this.opts.what, 'not a directory', 'input');
    const xattrs = readXattrsSync(this.abs(ROOT), false);
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
    this.scanner.close();
  }

  /** A directory's children with their stat and xattrs (src/overlay/dir-scan.ts). */
  private children(dir: string): Child[] {
    return this.scanner.list(dir, this.abs(dir)).map(({ name, st, xattrs }) => {
      const path = join(dir, name);
      return { name, path, real: this.abs(path), st, xattrs };
    });
  }

  private isXattrWhiteout(c: Child, parent: DirState): boolean {
    return parent.xwhiteouts && c.st.isFile() && c.st.size === 0n && c.xattrs.has(`${this.ns}whiteout`);
  }

  /**
   * `src`: this directory is a renamed one (or inside one), written opaque with
   * its whole content: the merge of this upper directory over the directory at
   * `src` in the layers below (SPEC.md §7).
   */
  private *walk(dir: string, state: DirState, insideOpaque: boolean, src?: string): Generator<Entry> {
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
    const children = src === undefined ? rest : this.mergeBelow(dir, rest, whiteouts, state.opaque ? undefined : src);
    for (const c of children) {
      const e = this.content(c);
      yield e;
      if (e.kind !== 'dir') continue;
      if (c.lower?.layer !== undefined) {
        // From a layer below: nothing of it is in this directory's listings.
        yield* this.walkBelow(c.path, c.lower.path);
        continue;
      }
      const childState = this.dirState(c.path, c.xattrs);
      if (this.opts.aufs && lstatSyncOrUndefined(this.abs(join(c.path, OPAQUE_MARKER)))) childState.opaque = true;
      // An opaque directory shows nothing below, renamed or not (the kernel stops there).
      const renamedFrom = childState.opaque ? undefined : this.renamedFrom(c, src);
      if (renamedFrom !== undefined) {
        // Renamed under redirect_dir=on: written opaque, with all it shows (the layers below hold it elsewhere).
        if (src === undefined) yield { kind: 'opaque', path: c.path };
        yield* this.walk(c.path, { ...childState, opaque: false }, true, renamedFrom);
        continue;
      }
      if (childState.opaque && src === undefined && this.hidesSomething(c.path)) yield { kind: 'opaque', path: c.path };
      // Inside a renamed directory, an upper directory merges with the one of its name below (unless opaque).
      const below = src !== undefined && !childState.opaque ? join(src, c.name) : undefined;
      yield* this.walk(c.path, below === undefined ? childState : { ...childState, opaque: false }, hidesAll || childState.opaque, below);
    }
  }

  /**
   * Would an opaque marker at `dir` hide anything? Only a directory below can be hidden
   * (a non-directory there is replaced by this one anyway). Without the layers below
   * there is no telling, so every marker is written (SPEC.md §7).
   */
  private hidesSomething(dir: string): boolean {
    return this.view === undefined || this.view.lookupSync(dir)?.stat.isDirectory() === true;
  }

  /**
   * Where a renamed directory's content is in the layers below: its `redirect`
   * (absolute from the layer root, or a name beside where it lies below), or
   * undefined when it was not renamed. Needs the layers below.
   */
  private renamedFrom(c: Child, parentBelow: string | undefined): string | undefined {
    const v = c.xattrs.get(`${this.ns}redirect`);
    if (v === undefined) return undefined;
    if (!this.view) {
      throw new WhiteoutError(
        this.where(c.path),
        `has ${this.ns}redirect: a directory renamed under redirect_dir=on, whose content is still in the layers below under its old name; give the layers below with --lower`,
        'unrepresentable',
      );
    }
    const r = this.redirectOf(c, v);
    return 'absolute' in r ? r.absolute : join(parentBelow ?? parentOf(c.path), r.name);
  }

  /**
   * The children of a directory written with its whole content: this layer's own
   * (`rest`), and then, by name, what the directory at `below` shows in the layers
   * below that this layer neither replaces nor whites out.
   */
  private mergeBelow(dir: string, rest: Child[], whiteouts: string[], below: string | undefined): Child[] {
    const view = this.view;
    // Opaque here: nothing below shows, and this layer's own are at their own paths below too.
    if (!view || below === undefined) return rest;
    const upper = rest.map((c): Child => ({ ...c, lower: { path: join(below, c.name) } }));
    const taken = new Set([...rest.map((c) => c.name), ...whiteouts.map((w) => w.slice(dir === ROOT ? 0 : dir.length + 1))]);
    const out = [...upper];
    for (const [name, found] of view.listSync(below)) {
      if (taken.has(name)) continue;
      const c = this.belowChild(join(dir, name), name, join(below, name), found);
      if (c) out.push(c);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** An object of a layer below, as a child of a directory this layer writes whole; undefined for a socket. */
  private belowChild(path: string, name: string, belowPath: string, found: Found): Child | undefined {
    if (found.stat.isSocket()) {
      this.warn(`${this.opts.what}: skipping socket '${display(belowPath)}' of layer ${found.layer + 1} below: a tar cannot hold it`);
      return undefined;
    }
    // As for this layer's own files (walk): in a tar such a name is a whiteout.
    if (name.startsWith(WHITEOUT_PREFIX)) {
      throw new WhiteoutError(this.where(path), `is '${display(belowPath)}' of layer ${found.layer + 1} below, a real file whose name starts with '.wh.', which an OCI layer cannot hold`, 'unrepresentable');
    }
    // A directory renamed in that layer is followed by the view: its listing shows what the rename shows.
    const xattrs = readXattrsSync(found.real, found.stat.isSymbolicLink());
    return { name, path, real: found.real, st: found.stat, xattrs, lower: { path: belowPath, layer: found.layer, below: found.below } };
  }

  /** A directory only the layers below hold (inside a renamed one): all it shows there. */
  private *walkBelow(dir: string, below: string): Generator<Entry> {
    const view = this.view;
    if (!view) return;
    const children: Child[] = [];
    for (const [name, found] of view.listSync(below)) {
      const c = this.belowChild(join(dir, name), name, join(below, name), found);
      if (c) children.push(c);
    }
    for (const c of children) {
      const e = this.content(c);
      yield e;
      if (e.kind === 'dir') yield* this.walkBelow(c.path, join(below, c.name));
    }
  }

  /** A redirect value met while packing `c` (its own, or one below on the way to its data), checked. */
  private redirectOf(c: Child, v: Buffer): { absolute: string } | { name: string } {
    return checkedRedirect(v, this.ns, this.where(c.path));
  }

  private where(p: string): string {
    return `${this.opts.what}: '${display(p)}'`;
  }

  /** The entry's metadata, and the kernel's own xattrs on it (redirect and metacopy among them). */
  private metaOf(c: Child): { meta: Meta; live: Map<string, Buffer> } {
    const { data, live } = splitDiskXattrs(c.xattrs, this.opts.userxattr, () => this.where(c.path), 'live');
    return { meta: { mode: permBits(c.st), uid: Number(c.st.uid), gid: Number(c.st.gid), mtime: mtimeSeconds(c.st), xattrs: data }, live };
  }

  private content(c: Child): ContentEntry {
    const { meta, live } = this.metaOf(c);
    const st = c.st;
    const redirect = live.get('redirect');
    const metacopy = live.has('metacopy');
    // A renamed directory's redirect is followed by the walk (renamedFrom).
    if (st.isDirectory()) return { kind: 'dir', path: c.path, meta };
    // redirect on a file matters only with metacopy: once its data was copied up, the data is here.
    if (metacopy && !st.isFile()) throw new WhiteoutError(this.where(c.path), `has ${this.ns}metacopy but is not a regular file`, 'input');
    if (st.nlink > 1n) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.links.get(key);
      if (first !== undefined) return { kind: 'hardlink', path: c.path, meta, target: first };
      this.links.set(key, c.path);
    }
    if (st.isFile()) {
      const size = Number(st.size);
      const real = metacopy ? this.metacopyData(c, redirect, size) : c.real;
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

  /**
   * Where a metacopy file's data is (overlayfs.rst, "Metadata only copy up"):
   * the file its `redirect` names (absolute from the root of the layers below,
   * or another name in the same directory), or else the one of its own name, in
   * the directory it is in as the layers below merge it; if that file is
   * metadata only too, on down from its layer, by its own redirect.
   */
  private metacopyData(c: Child, redirect: Buffer | undefined, size: number): Buffer {
    const view = this.view;
    if (!view) {
      throw new WhiteoutError(
        this.where(c.path),
        `has ${this.ns}metacopy: made with metacopy=on, its data is in a layer below; give the layers below with --lower`,
        'unrepresentable',
      );
    }
    // Its path below: its own, or inside a renamed directory, where that directory's content is below.
    let target = c.lower?.path ?? c.path;
    // The directory to look in: an object of a layer below goes on in that directory's layers under its own.
    let dir: readonly LayerDir[] | undefined = c.lower?.below ?? view.mergedDirSync(parentOf(target));
    let from = c.lower?.layer === undefined ? 0 : c.lower.layer + 1;
    let r = redirect;
    for (;;) {
      if (r !== undefined) {
        const t = this.redirectOf(c, r);
        if ('absolute' in t) {
          target = t.absolute;
          dir = view.mergedDirSync(parentOf(target), from);
        } else target = join(parentOf(target), t.name);
      }
      const found = dir && view.findSync(dir, baseOf(target));
      if (!found) throw new WhiteoutError(this.where(c.path), `has ${this.ns}metacopy, but no layer below shows a file at '${display(target)}' for its data`, 'input');
      if (!found.stat.isFile()) throw new WhiteoutError(this.where(c.path), `has ${this.ns}metacopy, but its data path '${display(target)}' is not a regular file in layer ${found.layer + 1} below`, 'input');
      const x = readXattrsSync(found.real, false);
      if (!x.has(`${this.ns}metacopy`)) {
        if (Number(found.stat.size) !== size) {
          throw new WhiteoutError(this.where(c.path), `has ${this.ns}metacopy, but its data '${display(target)}' in layer ${found.layer + 1} below is ${found.stat.size} bytes, not ${size}`, 'input');
        }
        return found.real;
      }
      // Metadata only there too: its data is further down, where its own redirect says.
      r = x.get(`${this.ns}redirect`);
      dir = found.below;
      from = found.layer + 1;
    }
  }
}
