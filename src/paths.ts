/**
 * Layer paths. Every path inside a layer is a *byte string* (one char per byte,
 * latin1) relative to the layer root, with no leading `/` or `./`, no empty,
 * `.` or `..` components, and no trailing `/`. The root itself is `''`.
 * Rules: SPEC.md §Names.
 */
import { WhiteoutError } from './errors.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** AUFS keeps its own bookkeeping under `.wh..wh.` names (`.wh..wh.plnk`, `.wh..wh.aufs`, `.wh..wh.orph`). */
export const AUFS_META_PREFIX = '.wh..wh.';

export const ROOT = '';

/** Byte string → Buffer for the file system APIs, so non-UTF-8 names stay exact. */
export function toFsPath(bytePath: string): Buffer {
  return Buffer.from(bytePath, 'latin1');
}

/** Byte string → text for people and JSON (invalid UTF-8 shows as U+FFFD). */
export function display(bytePath: string): string {
  // Fast path: pure ASCII needs no decoding.
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(bytePath)) return bytePath;
  return Buffer.from(bytePath, 'latin1').toString('utf8');
}

/** Text (UTF-8) → byte string, for names typed by people (`--path /etc`). */
export function fromText(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

export function isValidUtf8(bytePath: string): boolean {
  const b = Buffer.from(bytePath, 'latin1');
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b);
}

export function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? ROOT : p.slice(0, i);
}

export function baseOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

export function join(dir: string, name: string): string {
  return dir === ROOT ? name : `${dir}/${name}`;
}

/** Strict ancestors of `p`, nearest first, ending with the root. */
export function* ancestors(p: string): Generator<string> {
  let q = p;
  while (q !== ROOT) {
    q = parentOf(q);
    yield q;
  }
}

/** True when `inner` is `outer` or below it. */
export function isWithin(inner: string, outer: string): boolean {
  if (outer === ROOT) return true;
  return inner === outer || inner.startsWith(`${outer}/`);
}

/**
 * Names an entry in an error message. Building that text for every entry was
 * measurable on a layer of small entries, so readers may pass a function that
 * builds it only when an error is thrown.
 */
export type What = string | (() => string);

export function whatOf(what: What): string {
  return typeof what === 'string' ? what : what();
}

/** An empty, `.` or `..` component, or a NUL: the names the slow path must look at. */
// eslint-disable-next-line no-control-regex
const UNCLEAN = /(?:^|\/)\.{0,2}(?:\/|$)|\0/;

/**
 * Normalise a name as stored in a tar header: strip every leading `/`, drop
 * `.` and empty components, refuse `..` and NUL. `./`, `.` and `/` become the
 * root (`''`). Refusing `..` rather than clamping it is moby's choice (it
 * rejects non-local names); an archive that says `..` is either broken or hostile.
 */
export function normalizeName(raw: string, what: What): string {
  // Almost every name is already clean once GNU tar's leading "./" is off: no split and join for those.
  const rest = raw.startsWith('./') ? raw.slice(2) : raw;
  if (!UNCLEAN.test(rest)) return rest;
  if (raw.includes('\0')) throw new WhiteoutError(whatOf(what), `entry name contains a NUL byte`, 'unsafe');
  const parts: string[] = [];
  for (const c of raw.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') throw new WhiteoutError(whatOf(what), `entry '${display(raw)}' has a '..' component`, 'unsafe');
    parts.push(c);
  }
  return parts.join('/');
}

/** What a normalised tar name means once the AUFS markers are read. */
export type NameMeaning =
  | { kind: 'plain'; path: string }
  | { kind: 'whiteout'; path: string } // the path that is deleted
  | { kind: 'opaque'; dir: string } // the directory made opaque
  | { kind: 'aufs-meta'; path: string }; // AUFS bookkeeping, skipped

/**
 * Read the AUFS/OCI markers in a normalised name (image-spec layer.md
 * §Whiteouts). Only the last component is a marker; a marker used as a
 * directory component (`.wh.etc/x`) is refused, because no layer can hold a
 * real file with that name (W4) and reading it either way would be a guess.
 */
export function classifyName(path: string, what: What): NameMeaning {
  const dir = parentOf(path);
  if (dir.includes(WHITEOUT_PREFIX)) {
    for (const c of dir.split('/')) {
      // Files under AUFS's own stores (`.wh..wh.plnk/…`) are bookkeeping, not content.
      if (c.startsWith(AUFS_META_PREFIX) && c !== OPAQUE_MARKER) return { kind: 'aufs-meta', path };
      if (c.startsWith(WHITEOUT_PREFIX)) {
        throw new WhiteoutError(whatOf(what), `entry '${display(path)}' has a whiteout name '${display(c)}' as a directory component`, 'input');
      }
    }
  }
  const base = baseOf(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'plain', path };
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  if (base.startsWith(AUFS_META_PREFIX)) return { kind: 'aufs-meta', path };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw new WhiteoutError(whatOf(what), `invalid whiteout name '${display(path)}': it names no file`, 'unsafe');
  }
  return { kind: 'whiteout', path: join(dir, target) };
}

/** Name of the AUFS whiteout marker for `path`. */
export function whiteoutName(path: string): string {
  return join(parentOf(path), WHITEOUT_PREFIX + baseOf(path));
}

export function opaqueMarkerName(dir: string): string {
  return join(dir, OPAQUE_MARKER);
}
