/**
 * `check` of an overlay upper or diff directory (SPEC.md §16): what would make
 * it pack wrong, mount differently under another namespace, or carry a mount's
 * private state. Both overlay xattr namespaces are read, so a directory made
 * by a rootless mount is checked as well as one made by a privileged mount.
 * In-line syscalls, as in the directory reader; one walk, depth first.
 */
import fs from 'node:fs';
import { WhiteoutError } from '../errors.js';
import { type BigStats, isWhiteoutDevice, major, minor } from '../fs/stat.js';
import { readXattrsSync } from '../fs/xattr.js';
import { AUFS_META_PREFIX, OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, display, fromText, isValidUtf8, join, toFsPath } from '../paths.js';
import { FUSE_OVERLAYFS_PREFIX, OVERLAY_NAMESPACES, type OverlayNamespace } from '../overlay/forms.js';
import { type Finding, finding } from './finding.js';
import { escapesRoot } from './names.js';
import type { RuleId } from './rules.js';

export interface CheckOverlayDirOptions {
  /** The directory keeps `.wh.` files as whiteouts (fuse-overlayfs, AUFS): they are not findings. */
  aufs: boolean;
}

interface DirState {
  path: string;
  /** This directory or one above it is opaque: a whiteout here hides nothing more. */
  hidden: boolean;
  /** Marked `opaque=x`: its zero-size files may be xattr whiteouts. */
  xmarked: boolean;
}

/** The overlay xattrs of one object, by key, with the namespace they were found in (escaped data left out). */
function overlayKeys(xattrs: Map<string, Buffer>): { ns: OverlayNamespace; key: string; value: Buffer }[] {
  const out: { ns: OverlayNamespace; key: string; value: Buffer }[] = [];
  for (const [name, value] of xattrs) {
    const ns = OVERLAY_NAMESPACES.find((n) => name.startsWith(n));
    if (!ns) continue;
    const key = name.slice(ns.length);
    if (key.startsWith('overlay.')) continue; // escaped: image data, one nesting level down
    out.push({ ns, key, value });
  }
  return out;
}

const MOUNT_STATE: Record<string, string> = {
  origin: 'a file handle of the lower it was copied up from',
  impure: 'a note that the directory holds copied-up or moved entries',
  nlink: "the overlay's own link count",
  upper: 'a file handle of the upper object (index=on)',
  uuid: "the overlay's uuid (on the upper root)",
  protattr: 'the immutable/append-only flags of a copied-up file',
  verity: 'an fs-verity digest of the lower data',
};

class DirLint {
  readonly findings: Finding[] = [];
  /** First path where each namespace holds overlay metadata. */
  private readonly seen = new Map<OverlayNamespace, string>();

  constructor(
    private readonly base: string,
    private readonly opts: CheckOverlayDirOptions,
  ) {}

  private abs(p: string): Buffer {
    return toFsPath(p === ROOT ? this.base : `${this.base}/${p}`);
  }

  private add(rule: RuleId, path: string, message: string): void {
    this.findings.push(finding(rule, message, { entry: path }));
  }

  /** The object's overlay xattrs; returns the values of `opaque` and `whiteout` in either namespace. */
  private xattrs(path: string, xattrs: Map<string, Buffer>): { opaque?: string; whiteout: boolean } {
    const out: { opaque?: string; whiteout: boolean } = { whiteout: false };
    for (const { ns, key, value } of overlayKeys(xattrs)) {
      if (!this.seen.has(ns)) this.seen.set(ns, path);
      const name = `${ns}${key}`;
      if (key === 'opaque') out.opaque = value.toString('latin1');
      else if (key === 'whiteout') out.whiteout = true;
      else if (key === 'redirect') this.add('overlay-redirect', path, `${name}: made with redirect_dir=on, the content is the lower directory it names, not this one (pack it with --lower)`);
      else if (key === 'metacopy') this.add('overlay-metacopy', path, `${name}: made with metacopy=on, the data is in a lower file, this one is empty (pack it with --lower)`);
      else this.add('kernel-xattr', path, `${name}: ${MOUNT_STATE[key] ?? 'an overlay key the kernel does not define'}; mount state, not image content`);
    }
    return out;
  }

  walk(): void {
    const root = this.abs(ROOT);
    let st: BigStats;
    try {
      st = fs.lstatSync(root, { bigint: true });
    } catch {
      throw new WhiteoutError(display(this.base), 'no such directory', 'input');
    }
    if (!st.isDirectory()) throw new WhiteoutError(display(this.base), 'not a directory', 'input');
    // The kernel never reads opacity on a layer root, but opaque=x there announces xattr whiteouts.
    const x = this.xattrs(ROOT, readXattrsSync(root, false));
    const stack: DirState[] = [{ path: ROOT, hidden: false, xmarked: x.opaque === 'x' }];
    for (let d = stack.pop(); d; d = stack.pop()) {
      const subdirs = this.dir(d);
      for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i] as DirState);
    }
    const trusted = this.seen.get('trusted.overlay.');
    const user = this.seen.get('user.overlay.');
    if (trusted !== undefined && user !== undefined) {
      this.add('mixed-namespaces', user, `user.overlay.* here, trusted.overlay.* at '/${display(trusted)}': a mount reads one namespace only, so the other's markers are lost`);
    }
  }

  /** Check a directory's children; returns its subdirectories to walk, in order. */
  private dir(d: DirState): DirState[] {
    const names = fs.readdirSync(this.abs(d.path), { encoding: 'latin1' }).sort();
    const subdirs: DirState[] = [];
    for (const name of names) {
      const path = join(d.path, name);
      const real = this.abs(path);
      const st = fs.lstatSync(real, { bigint: true });
      const xattrs = st.isSocket() ? new Map<string, Buffer>() : readXattrsSync(real, st.isSymbolicLink());
      const x = this.xattrs(path, xattrs);
      if (!isValidUtf8(name)) this.add('non-utf8-name', path, 'the name is not valid UTF-8: tools that read names as text see another name, or fail');
      if (name.startsWith(WHITEOUT_PREFIX)) {
        if (!this.opts.aufs) {
          this.add('whiteout-name-on-disk', path, "no OCI layer can hold a file named '.wh.*' (pack refuses it); if this directory is in the AUFS form, check it with --whiteouts aufs");
        } else if (d.hidden && name !== OPAQUE_MARKER && !name.startsWith(AUFS_META_PREFIX)) {
          this.add('whiteout-in-opaque', path, 'a whiteout inside an opaque directory hides nothing more');
        }
        continue;
      }
      const xwhiteout = st.isFile() && st.size === 0n && x.whiteout;
      if (isWhiteoutDevice(st) || xwhiteout) {
        if (d.hidden) this.add('whiteout-in-opaque', path, 'a whiteout inside an opaque directory hides nothing more; readdir lists it where the directory is not merged (overlayfs.rst: "should not contain any whiteouts")');
        if (xwhiteout && !d.xmarked) this.add('xwhiteout-unmarked', path, "an xattr whiteout in a directory without opaque=x: readdir lists a name that cannot be opened");
        continue;
      }
      if (st.isCharacterDevice()) this.add('char-device', path, `a real character device ${major(st.rdev)},${minor(st.rdev)}: it is shipped in the layer, and runtimes in a user namespace skip it`);
      else if (st.isSocket()) this.add('socket', path, 'a socket: no tar can hold it, pack skips it');
      else if (st.isSymbolicLink()) {
        const target = fs.readlinkSync(real, { encoding: 'latin1' });
        if (escapesRoot(path, target)) this.add('symlink-escape', path, `-> '${display(target)}' climbs above the root: harmless in a container, but a tool that resolves it on the host leaves the rootfs`);
      } else if (st.isDirectory()) {
        const opaque =
          x.opaque === 'y' ||
          (this.opts.aufs && (xattrs.get(`${FUSE_OVERLAYFS_PREFIX}opaque`)?.toString('latin1') === 'y' || fs.existsSync(this.abs(join(path, OPAQUE_MARKER)))));
        subdirs.push({ path, hidden: d.hidden || opaque, xmarked: x.opaque === 'x' });
      }
    }
    return subdirs;
  }
}

/** Lint an overlay upper or diff directory; findings in walk order (byte order, depth first). */
export function checkOverlayDir(dir: string, opts: CheckOverlayDirOptions): Finding[] {
  const lint = new DirLint(fromText(dir), opts);
  lint.walk();
  return lint.findings;
}
