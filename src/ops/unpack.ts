/**
 * unpack = OCI tar reader → overlay-directory writer (SPEC.md §Unpack).
 */
import type { WarningSink } from '../errors.js';
import { withAtomicDir } from '../fs/atomic.js';
import { readOciLayer } from '../layer/oci-read.js';
import { type OverlayForm, defaultOverlayForm } from '../overlay/forms.js';
import { OverlayDirWriter, type OverlayDirStats } from '../overlay/dir-write.js';
import { decompress } from '../tar/compress.js';
import { digestPassThrough } from '../tar/digest.js';
import { type Limits, checkByteLimit, entryLimiter, resolveLimits } from '../layer/limits.js';

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
}

export interface UnpackResult extends OverlayDirStats {
  /** sha256 of the uncompressed tar: the layer's DiffID. */
  diffID: string;
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
    const tar = digestPassThrough(checkByteLimit(decompress(source, { name }), limits, name), { worker: opts.hashInWorker ?? false });
    const writer = new OverlayDirWriter(root, {
      form: opts.form ?? defaultOverlayForm,
      workDir: work,
      what: name,
      ...(opts.lowers ? { lowers: opts.lowers } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
    const entries = readOciLayer(tar.stream, { name, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}), limits: { maxHeaderBytes: limits.maxHeaderBytes } });
    await writer.addAll(entries, entryLimiter(limits, name));
    const stats = await writer.finish();
    const { digest, size } = tar.result();
    return { ...stats, diffID: digest, size };
  });
}
