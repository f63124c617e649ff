/**
 * The overlayfs on-disk forms and the names of the kernel's xattrs
 * (Documentation/filesystems/overlayfs.rst). SPEC.md §Overlay forms.
 */
import { WhiteoutError } from '../errors.js';

export type WhiteoutForm = 'device' | 'xattr' | 'aufs';

export interface OverlayForm {
  /** How a whiteout is stored on disk. */
  whiteouts: WhiteoutForm;
  /** `user.overlay.*` instead of `trusted.overlay.*` (mount option `userxattr`, Linux 5.11+). */
  userxattr: boolean;
}

export const defaultOverlayForm: OverlayForm = { whiteouts: 'device', userxattr: false };

export const TRUSTED_NS = 'trusted.overlay.';
export const USER_NS = 'user.overlay.';
export const OVERLAY_NAMESPACES = [TRUSTED_NS, USER_NS] as const;
export type OverlayNamespace = (typeof OVERLAY_NAMESPACES)[number];

export function activeNamespace(userxattr: boolean): OverlayNamespace {
  return userxattr ? USER_NS : TRUSTED_NS;
}

/** The kernel's own xattr keys (fs/overlayfs/util.c ovl_xattr_table). */
export const KERNEL_KEYS = [
  'opaque',
  'redirect',
  'origin',
  'impure',
  'nlink',
  'upper',
  'uuid',
  'metacopy',
  'protattr',
  'whiteout',
  'verity',
] as const;

/** fuse-overlayfs keeps its own state under this prefix; it is never image content. */
export const FUSE_OVERLAYFS_PREFIX = 'user.fuseoverlayfs.';

function namespaceOf(name: string): OverlayNamespace | undefined {
  if (name.startsWith(TRUSTED_NS)) return TRUSTED_NS;
  if (name.startsWith(USER_NS)) return USER_NS;
  return undefined;
}

/**
 * An xattr that a layer carries as data but whose name the kernel would read
 * as its own is stored one level escaped (`trusted.overlay.X` →
 * `trusted.overlay.overlay.X`), the way the kernel nests overlays (6.7+). Both
 * namespaces are escaped whatever the mount mode, so a layer dir never holds
 * live metadata under either mode (SPEC.md §Overlay xattr hygiene).
 */
export function escapeXattrName(name: string): string {
  const ns = namespaceOf(name);
  return ns ? `${ns}overlay.${name.slice(ns.length)}` : name;
}

/** What an xattr found on disk in an overlay layer dir means. */
export type DiskXattr =
  | { kind: 'data'; name: string } // image content (unescaped if it was escaped)
  | { kind: 'live'; key: string } // the kernel's own, in the namespace the mount uses
  | { kind: 'foreign'; ns: OverlayNamespace; key: string } // the kernel's own, in the other namespace
  | { kind: 'tool-private'; name: string }; // fuse-overlayfs bookkeeping

export function classifyDiskXattr(name: string, userxattr: boolean): DiskXattr {
  const ns = namespaceOf(name);
  if (!ns) {
    if (name.startsWith(FUSE_OVERLAYFS_PREFIX)) return { kind: 'tool-private', name };
    return { kind: 'data', name };
  }
  const rest = name.slice(ns.length);
  if (rest.startsWith('overlay.')) return { kind: 'data', name: ns + rest.slice('overlay.'.length) };
  if (ns === activeNamespace(userxattr)) return { kind: 'live', key: rest };
  return { kind: 'foreign', ns, key: rest };
}

/** Escape every xattr name of an entry for storage in an overlay layer. */
export function escapeXattrs(xattrs: Map<string, Buffer>): Map<string, Buffer> {
  let escaped: Map<string, Buffer> | undefined;
  for (const name of xattrs.keys()) {
    if (namespaceOf(name)) {
      escaped = new Map();
      break;
    }
  }
  if (!escaped) return xattrs;
  for (const [name, value] of xattrs) escaped.set(escapeXattrName(name), value);
  return escaped;
}

/**
 * Split the xattrs found on an object in an overlay layer into image content
 * (unescaped) and the kernel's live ones. Refuses what cannot be packed:
 * `redirect`/`metacopy` (content lives in the lowers), unless the caller
 * follows them, and markers written in the other namespace (the wrong
 * `--userxattr` choice would lose them).
 */
export function splitDiskXattrs(
  xattrs: Map<string, Buffer>,
  userxattr: boolean,
  where: () => string,
  /** 'live': the caller follows `redirect`/`metacopy` itself (pack with the layers below); they come back in `live`. */
  lowerRefs: 'refuse' | 'live' = 'refuse',
): { data: Map<string, Buffer>; live: Map<string, Buffer> } {
  const data = new Map<string, Buffer>();
  const live = new Map<string, Buffer>();
  for (const [name, value] of xattrs) {
    const x = classifyDiskXattr(name, userxattr);
    switch (x.kind) {
      case 'data':
        data.set(x.name, value);
        break;
      case 'tool-private':
        break;
      case 'live':
        if ((x.key === 'redirect' || x.key === 'metacopy') && lowerRefs === 'refuse') {
          throw new WhiteoutError(
            where(),
            `has ${name}: it was made with ${x.key === 'redirect' ? 'redirect_dir' : 'metacopy'}=on, so its content lives partly in the lower layers and cannot be packed from this directory alone`,
            'unrepresentable',
          );
        }
        // origin, impure, nlink, upper, uuid, protattr, verity are the kernel's
        // bookkeeping and never image content; opaque and whiteout are read by the caller.
        live.set(x.key, value);
        break;
      case 'foreign':
        if (x.key === 'opaque' || x.key === 'whiteout' || x.key === 'redirect' || x.key === 'metacopy') {
          throw new WhiteoutError(
            where(),
            `has ${name}, but ${activeNamespace(userxattr)}* is being read: ${userxattr ? 'drop --userxattr' : 'pass --userxattr'} for a layer made by a ${x.ns === USER_NS ? 'userxattr (rootless)' : 'privileged'} overlay mount`,
            'input',
          );
        }
        break;
    }
  }
  return { data, live };
}
