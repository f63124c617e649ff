/**
 * The neutral model in the middle. Every form of a layer is read into a stream
 * of these entries and written from one. A whiteout and an opaque directory are
 * kinds of their own: no writer ever sees a `.wh.` name or an overlay xattr.
 */

/** Metadata a layer carries for a path (image-spec layer.md §Change types, A1). */
export interface Meta {
  /** Permission bits with setuid, setgid and sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch, fractional when the source had sub-second precision. */
  mtime: number;
  /** Extended attributes as the image sees them (never escaped), values byte-exact. */
  xattrs: Map<string, Buffer>;
  /** Byte strings; informative only (uid/gid win, layer.md A1). */
  uname?: string;
  gname?: string;
  /** PAX records with no place in this model (e.g. MSWINDOWS.*), kept so tar→tar keeps them. */
  pax?: Map<string, Buffer>;
}

interface Base {
  /** Layer path, byte string, normalised (src/paths.ts). The root is ''. */
  path: string;
  meta: Meta;
}

export interface FileEntry extends Base {
  kind: 'file';
  size: number;
  /** Exactly `size` bytes; read at most once, before the next entry is asked for. */
  body: AsyncIterable<Buffer>;
}
export interface DirEntry extends Base {
  kind: 'dir';
}
export interface SymlinkEntry extends Base {
  kind: 'symlink';
  /** Byte string, stored verbatim: never resolved against the host. */
  target: string;
}
export interface HardlinkEntry extends Base {
  kind: 'hardlink';
  /** Normalised layer path of an earlier entry of the same layer. */
  target: string;
}
export interface DeviceEntry extends Base {
  kind: 'char' | 'block';
  major: number;
  minor: number;
}
export interface FifoEntry extends Base {
  kind: 'fifo';
}
/** `path` is deleted from the layers below. Carries no metadata of its own (SPEC.md §Whiteout headers). */
export interface WhiteoutEntry {
  kind: 'whiteout';
  path: string;
}
/** Nothing below `path` (a directory) shows through. */
export interface OpaqueEntry {
  kind: 'opaque';
  path: string;
}

export type ContentEntry = FileEntry | DirEntry | SymlinkEntry | HardlinkEntry | DeviceEntry | FifoEntry;
export type MarkerEntry = WhiteoutEntry | OpaqueEntry;
export type Entry = ContentEntry | MarkerEntry;
export type EntryKind = Entry['kind'];

export function isMarker(e: Entry): e is MarkerEntry {
  return e.kind === 'whiteout' || e.kind === 'opaque';
}

export function defaultMeta(overrides: Partial<Meta> = {}): Meta {
  return { mode: 0o755, uid: 0, gid: 0, mtime: 0, xattrs: new Map(), ...overrides };
}

/** A stream of entries: what readers produce and writers consume. */
export type EntryStream = AsyncIterable<Entry>;
