/**
 * The tar codec's own vocabulary. It knows nothing about whiteouts: a header
 * here is exactly what the archive says, after PAX/GNU extensions are folded in.
 *
 * Names, link targets, unames and gnames are *byte strings*: each UTF-16 code
 * unit holds one byte (latin1). Tar names are bytes, not text, and a layer may
 * carry names that are not valid UTF-8; this keeps them byte-exact all the way
 * to the file system (see src/paths.ts `toFsPath`).
 */
export type TarType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'dir'
  | 'fifo';

export interface TarHeader {
  /** Full name, byte string, as stored (PAX `path`, GNU `L`, or ustar prefix + name). Not normalised. */
  name: string;
  type: TarType;
  /** Data bytes that follow in the archive (for sparse files: the logical size, see `sparse`). */
  size: number;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  /** Seconds since the epoch; fractional when a PAX `mtime` record says so. */
  mtime: number;
  /** Byte string: symlink target or hardlink target. */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from `SCHILY.xattr.*` records, values byte-exact. */
  xattrs: Map<string, Buffer>;
  /**
   * PAX records the codec did not fold into the fields above (for example
   * `MSWINDOWS.*`), values byte-exact. `atime`/`ctime` are dropped on read.
   */
  pax: Map<string, Buffer>;
}

/** What the reader adds to a header: where it was found. */
export interface TarEntryInfo extends TarHeader {
  /** Byte offset of the first header block of this entry (its PAX/GNU blocks included) in the uncompressed stream. */
  offset: number;
  /** The archive stored this file sparse (GNU); `size` and `body` are the expanded file. */
  sparse?: boolean;
}

export interface TarReadEntry {
  header: TarEntryInfo;
  /**
   * The entry's data, `header.size` bytes, as chunks. Read it at most once, and
   * before asking the reader for the next entry; an unread body is skipped.
   */
  body: AsyncIterable<Buffer>;
}

export interface TarLimits {
  /** Largest PAX extended header or GNU long name/link, in bytes. */
  maxHeaderBytes: number;
}

export const defaultTarLimits: TarLimits = {
  maxHeaderBytes: 1 << 20,
};

/** What the writer takes: a header (offset is meaningless there) and, for files, the body. */
export interface TarWriteEntry {
  header: TarHeader;
  body?: AsyncIterable<Buffer> | Buffer;
}

/** A body its reader can hand over whole when the bytes in hand hold all of it. */
export interface InMemoryBody {
  /** The rest of the body as one view, without awaiting; undefined (nothing taken) when it is not all in memory. */
  takeWhole(): Buffer | undefined;
}

/**
 * The whole body at once, when its reader already holds it (most files in a
 * layer are a few KB); undefined otherwise, and the body is read as a stream.
 */
export function takeWhole(body: AsyncIterable<Buffer>): Buffer | undefined {
  const b: AsyncIterable<Buffer> & Partial<InMemoryBody> = body;
  return typeof b.takeWhole === 'function' ? b.takeWhole() : undefined;
}

/**
 * A body its writer can read straight into its own buffer without awaiting: a
 * file on disk. The tar writer reads it into the batch it is filling, so file
 * bytes are copied once, by the kernel, on their way into the archive.
 */
export interface ReadIntoBody {
  /** Up to `length` bytes into `buf` at `offset`; 0 at the end of the file. */
  readInto(buf: Buffer, offset: number, length: number): number;
  /** Done with it, read to the end or given up: releases the file. */
  close(): void;
}

/** The body as a ReadIntoBody when it is one. */
export function readIntoBody(body: AsyncIterable<Buffer>): ReadIntoBody | undefined {
  const b: AsyncIterable<Buffer> & Partial<ReadIntoBody> = body;
  return typeof b.readInto === 'function' && typeof b.close === 'function' ? (b as AsyncIterable<Buffer> & ReadIntoBody) : undefined;
}
