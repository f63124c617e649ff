/**
 * unpack = OCI tar reader → overlay-directory writer (SPEC.md §Unpack).
 */
import { WhiteoutError, type WarningSink } from '../errors.js';
import { withAtomicDir } from '../fs/atomic.js';
import { readOciLayer } from '../layer/oci-read.js';
import { type OverlayForm, defaultOverlayForm } from '../overlay/forms.js';
import { OverlayDirWriter, type OverlayDirStats } from '../overlay/dir-write.js';
import { decompress } from '../tar/compress.js';
import { type MeasuredStream, countedPassThrough, digestPassThrough } from '../tar/digest.js';
import { type Limits, checkByteLimit, entryLimiter, resolveLimits } from '../layer/limits.js';
import { type IdMapping, mapOwners } from '../rootfs/idmap.js';

export interface UnpackOptions {
  form?: OverlayForm;
  /** Layer directories below this one, topmost first (see OverlayDirWriteOptions.lowers). */
  lowers?: readonly string[];
  /** Replace a non-empty target. */
  force?: boolean;
  /** Name of the input, for messages. */
  name?: string;
  onWarning?: WarningSink;
  limits?: Partial<Limits>;
  /**
   * Hash the layer (its diffID) in a worker thread: worth it for a big layer
   * (src/tar/digest.ts); a small one is hashed in line (the default).
   */
  hashInWorker?: boolean | undefined;
  /** Decode a zstd layer on a worker thread (DecompressOptions.thread): worth it for a big layer. */
  decodeInWorker?: boolean | undefined;
  /** What the layer's tar must hash to; on a mismatch the target never appears. */
  diffID?: string;
  /** false: do not hash the tar (no diffID in the result). Not with `diffID`. */
  digest?: boolean;
  /** Owners shifted between reader and writer (`--uid-map`/`--gid-map`, src/rootfs/idmap.ts). */
  idMap?: IdMapping;
  /**
   * The source refills each chunk once the next is asked for (src/io.ts
   * `readSource(file, { reuse: true })`): unpack copies what it keeps longer.
   */
  volatileSource?: boolean;
}

export interface UnpackResult extends OverlayDirStats {
  /** sha256 of the uncompressed tar: the layer's DiffID (absent when `digest: false`). */
  diffID?: string;
  /** Bytes of the uncompressed tar. */
  size: number;
}

/**
 * Unpack a layer (plain, gzip or zstd bytes) into `target` as an overlay layer
 * directory. The target appears only when the whole layer has been written.
 */
export async function unpackLayer(source: AsyncIterable<Buffer>, target: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const name = opts.name ?? 'layer';
  return withAtomicDir(target, opts.force ?? false, async ({ root, work }) => {
    const limits = resolveLimits(opts.limits);
    const volatile = opts.volatileSource ?? false;
    const tar = diffIDStream(checkByteLimit(decompress(source, { name, volatile, thread: opts.decodeInWorker ?? false }), limits, name), opts);
    const writer = new OverlayDirWriter(root, {
      form: opts.form ?? defaultOverlayForm,
      workDir: work,
      what: name,
      volatileBodies: volatile,
      ...(opts.lowers ? { lowers: opts.lowers } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
    const entries = readOciLayer(tar.stream, { name, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), limits: { maxHeaderBytes: limits.maxHeaderBytes } });
    await writer.addAll(mapOwners(entries, opts.idMap), entryLimiter(limits, name));
    const stats = await writer.finish();
    const { digest, size } = tar.result();
    checkDiffID(name, digest, opts.diffID);
    return { ...stats, ...(digest !== undefined ? { diffID: digest } : {}), size };
  });
}

/** The tar stream with its diffID measured, or only counted when the caller asked for no digest. */
function diffIDStream(tar: AsyncIterable<Buffer>, opts: Pick<UnpackOptions, 'digest' | 'diffID' | 'hashInWorker'>): MeasuredStream {
  if (opts.digest === false && opts.diffID === undefined) return countedPassThrough(tar);
  return digestPassThrough(tar, { worker: opts.hashInWorker ?? false });
}

/** Called before the target is put in place: a layer that is not the one expected never appears. */
function checkDiffID(name: string, got: string | undefined, expected: string | undefined): void {
  if (expected !== undefined && got !== expected) throw new WhiteoutError(name, `diffID mismatch: expected ${expected}, got ${got ?? 'nothing'}`, 'input');
}
