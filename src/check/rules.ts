/**
 * The lint rules of `whiteout check`, one place (SPEC.md §16). Each rule has a
 * stable id, a fixed severity and the SPEC.md section whose rule it enforces.
 *
 * Severity policy: `error` when the spec forbids it or when the runtimes read
 * it differently (so the same image is not the same filesystem everywhere);
 * `warning` when it is legal and read alike but breaks a SHOULD or invites
 * mistakes in other tools; `info` when it is harmless and only worth knowing.
 */

export type Severity = 'error' | 'warning' | 'info';

export interface Rule {
  severity: Severity;
  /** The SPEC.md section the rule enforces. */
  section: string;
  /** One line: what it finds. */
  what: string;
}

function r(severity: Severity, section: string, what: string): Rule {
  return { severity, section, what };
}

export const RULES = {
  // Names (tar layers)
  'dotdot-name': r('error', '§2', "a name with a '..' component"),
  'absolute-name': r('error', '§2', "a name starting with '/'"),
  'root-not-dir': r('error', '§2', 'the layer root given as something other than a directory'),
  'non-utf8-name': r('warning', '§2', 'a name that is not valid UTF-8'),
  // Markers
  'bare-whiteout': r('error', '§3', "'.wh.', '.wh..' or '.wh...': a whiteout that names no file"),
  'whiteout-dir-component': r('error', '§3', "a '.wh.' name used as a directory ('.wh.etc/passwd')"),
  'aufs-meta': r('warning', '§3', "AUFS bookkeeping ('.wh..wh.plnk', …) in an OCI layer"),
  'whiteout-content': r('error', '§3', 'a whiteout with content'),
  'whiteout-type': r('warning', '§3', 'a whiteout that is not a regular file in the tar'),
  // Layer rules
  'whiteout-after-entry': r('error', '§4', 'a whiteout of a path the same layer added earlier in the tar'),
  'whiteout-same-layer': r('warning', '§4', 'a whiteout of a path the same layer adds later in the tar'),
  'redundant-marker': r('info', '§4', 'a marker that hides nothing its layer does not already hide'),
  'whiteout-order': r('warning', '§7', 'a whiteout or opaque marker after entries of its own directory'),
  'duplicate-entry': r('error', '§6', 'two entries for one path in one layer'),
  'path-conflict': r('error', '§13.2', 'one path both a directory (with entries below) and a non-directory in one layer'),
  // Links, devices, xattrs, tar features
  'symlink-escape': r('warning', '§6', "a symlink whose relative target climbs above the root"),
  'path-through-symlink': r('error', '§13.2', 'an entry below a path that is a symlink in its layer or below'),
  'dir-over-symlink': r('warning', '§13.2', "a directory entry over a lower layer's symlink (read as spec'd, the symlink goes)"),
  'hardlink-outside': r('error', '§6', 'a hardlink to a path that is not an earlier entry of its layer'),
  'hardlink-to-dir': r('error', '§6', 'a hardlink to a directory'),
  'overlay-xattr': r('error', '§5.1', 'a trusted.overlay.* or user.overlay.* xattr inside a layer tar'),
  'overlay-whiteout-device': r('error', '§5.1', 'a character device 0/0 inside an OCI layer tar'),
  'device-range': r('error', '§16', 'device numbers that Linux cannot hold (major > 4095 or minor > 1048575)'),
  'sparse-file': r('warning', '§9', 'a file stored sparse'),
  truncated: r('error', '§9', 'the tar ends in the middle of an entry'),
  'bad-tar': r('error', '§9', 'a header the tar reader cannot read (checksum, PAX record…)'),
  'unknown-type': r('error', '§9', 'an entry whose type flag is none of POSIX\'s or GNU\'s (skipped by its size; the pass goes on)'),
  limit: r('error', '§11', 'a layer over a --max-* limit; the rest of it is not checked'),
  // Images
  'digest-mismatch': r('error', '§13.1', "a blob whose digest or size is not its descriptor's"),
  'diffid-mismatch': r('error', '§13.1', "a layer whose uncompressed digest is not the config's diffID"),
  'image-invalid': r('error', '§13.1', 'an image whose documents cannot be read as the spec says'),
  'whiteout-hides-nothing': r('warning', '§4', 'a whiteout of a path that no lower layer has (image only)'),
  'opaque-hides-nothing': r('info', '§4', 'an opaque marker on a directory that no lower layer has (image only)'),
  // Overlay directories
  'overlay-redirect': r('error', '§5.1', 'an overlay.redirect xattr: the content lives elsewhere in the lowers'),
  'overlay-metacopy': r('error', '§5.1', 'an overlay.metacopy xattr: the data lives in a lower file'),
  'whiteout-in-opaque': r('warning', '§7', 'a whiteout inside an opaque directory'),
  'whiteout-name-on-disk': r('error', '§7', "a real file named '.wh.*' in an overlay directory"),
  'xwhiteout-unmarked': r('warning', '§5', "an xattr whiteout in a directory not marked opaque=x"),
  'char-device': r('warning', '§5.1', 'a character device other than 0/0 (a real device shipped in the layer)'),
  'kernel-xattr': r('warning', '§5.1', "the kernel's private overlay xattrs (origin, impure, nlink, upper, uuid, …)"),
  'mixed-namespaces': r('error', '§5', 'overlay markers in both the trusted and the user namespace'),
  socket: r('info', '§7', 'a socket, which no tar can hold'),
} as const satisfies Record<string, Rule>;

export type RuleId = keyof typeof RULES;

export const RULE_IDS = Object.keys(RULES) as RuleId[];
