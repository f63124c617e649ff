/**
 * pack = overlay-directory reader → OCI tar writer (SPEC.md §Pack).
 */
import type { WarningSink } from '../errors.js';
import { writeOciLayer } from '../layer/oci-write.js';
import { readOverlayDirSync } from '../overlay/dir-read.js';
import type { ScanThreadOptions } from '../overlay/dir-scan.js';
import { type Compression, compress } from '../tar/compress.js';
import { type MeasuredStream, countedPassThrough, digestPassThrough } from '../tar/digest.js';

export interface PackOptions {
  userxattr?: boolean;
  /** Read `.wh.` files as whiteouts (fuse-overlayfs / AUFS on disk). */
  aufs?: boolean;
  compression?: Compression;
  onWarning?: WarningSink;
  /** Hash the output in worker threads (src/tar/digest.ts): for a big directory; off by default. */
  hashInWorker?: boolean;
  /**
   * The reader of `stream` is done with each chunk before it asks for the next
   * (writes it synchronously): an uncompressed layer's chunks are then views of
   * one reused buffer (src/tar/write.ts WriteTarOptions.reuse). Off by default.
   */
  reuseChunks?: boolean;
  /** false: do not hash the layer (no diffID or digest in the result); the bytes are only counted. */
  digest?: boolean;
  /** The layer directories below, topmost first: a metacopy file's data is read from them (SPEC.md §7). */
  lowers?: readonly string[];
  /** Scan directories ahead on a thread (src/overlay/dir-scan.ts): for a big directory; off by default. */
  scanThread?: boolean | ScanThreadOptions;
}

export interface PackedLayer {
  /** The layer's bytes, compressed as asked. Read it once. */
  stream: AsyncIterable<Buffer>;
  /** Valid once `stream` has been read to the end. */
  result(): PackResult;
}

export interface PackResult {
  /** sha256 of the uncompressed tar (absent when `digest: false`). */
  diffID?: string;
  /** sha256 of the bytes written (absent when `digest: false`). */
  digest?: string;
  size: number;
  uncompressedSize: number;
}

export function packLayer(dir: string, opts: PackOptions = {}): PackedLayer {
  // The walk is synchronous: the tar writer reads each file straight into its buffer (src/tar/write.ts).
  const entries = readOverlayDirSync(dir, {
    userxattr: opts.userxattr ?? false,
    aufs: opts.aufs ?? false,
    what: dir,
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    ...(opts.scanThread ? { scanThread: opts.scanThread } : {}),
    ...(opts.lowers && opts.lowers.length > 0 ? { lowers: opts.lowers } : {}),
  });
  const worker = opts.hashInWorker ?? false;
  const compression = opts.compression ?? 'none';
  // A compressor queues its input, so only the uncompressed stream may reuse its buffer.
  const layer = writeOciLayer(entries, { reuse: (opts.reuseChunks ?? false) && compression === 'none' });
  const pass = (s: AsyncIterable<Buffer>): MeasuredStream =>
    opts.digest === false ? countedPassThrough(s) : digestPassThrough(s, { worker });
  const tar = pass(layer);
  // Uncompressed, the digest is the diffID: hash once.
  const out = compression === 'none' ? tar : pass(compress(tar.stream, compression));
  return {
    stream: out.stream,
    result() {
      const t = tar.result();
      const o = out.result();
      return { ...(t.digest !== undefined ? { diffID: t.digest } : {}), ...(o.digest !== undefined ? { digest: o.digest } : {}), size: o.size, uncompressedSize: t.size };
    },
  };
}
