/**
 * convert = tar reader → tar writer, between the OCI form and the overlay form
 * carried in a tar (SPEC.md §convert).
 */
import type { WarningSink } from '../errors.js';
import { readOciLayer } from '../layer/oci-read.js';
import { writeOciLayer } from '../layer/oci-write.js';
import { readOverlayTar, writeOverlayTar } from '../layer/overlay-tar.js';
import { decompress } from '../tar/compress.js';
import { type Limits, checkByteLimit, checkEntryLimits, checkHardlinks, resolveLimits } from '../layer/limits.js';

export interface ConvertOptions {
  userxattr?: boolean;
  name?: string;
  /** Decode a zstd layer on a worker thread (DecompressOptions.thread): worth it for a big layer. */
  decodeInWorker?: boolean;
  onWarning?: WarningSink;
  limits?: Partial<Limits>;
  /**
   * The source refills a chunk once the next one is asked for (src/io.ts
   * ReadSourceOptions.reuse): a compressed source's chunks are then copied for
   * the decompressor, which queues them. Only for an output that writes each
   * chunk before asking for the next (a file through writeFileAtomic), since a
   * converted body's chunks are views of the source's: not for a pipe. The
   * tar writer then also refills one batch buffer (WriteTarOptions.reuse): a
   * fresh 1 MiB buffer a batch was garbage that V8 collects only every ~64 MB,
   * ~50 MB of `convert --to overlay`'s peak on a million paths. Off by default.
   */
  volatile?: boolean;
}

/** Overlay-form tar (any compression) → uncompressed OCI layer tar. One pass. */
export function convertToOci(source: AsyncIterable<Buffer>, opts: ConvertOptions = {}): AsyncIterable<Buffer> {
  const name = opts.name ?? 'layer';
  const limits = resolveLimits(opts.limits);
  const entries = readOverlayTar(checkByteLimit(decompress(source, { name, volatile: opts.volatile ?? false, thread: opts.decodeInWorker ?? false }), limits, name), {
    name,
    userxattr: opts.userxattr ?? false,
    limits: { maxHeaderBytes: limits.maxHeaderBytes },
    ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
  });
  return writeOciLayer(checkHardlinks(checkEntryLimits(entries, limits, name), name), { reuse: opts.volatile ?? false });
}

/**
 * OCI layer tar (any compression) → uncompressed overlay-form tar. The layer is
 * read twice (see writeOverlayTar), so the source must be re-openable.
 */
export function convertToOverlay(open: () => AsyncIterable<Buffer>, opts: ConvertOptions = {}): AsyncIterable<Buffer> {
  const name = opts.name ?? 'layer';
  const warn = opts.onWarning;
  // The layer is read twice; say each warning once.
  const seen = new Set<string>();
  const once = (m: string) => {
    if (seen.has(m)) return;
    seen.add(m);
    warn?.(m);
  };
  const limits = resolveLimits(opts.limits);
  // writeOverlayTar checks the hard links itself, in the index it keeps of the layer's paths.
  const read = () =>
    checkEntryLimits(
      readOciLayer(checkByteLimit(decompress(open(), { name, volatile: opts.volatile ?? false, thread: opts.decodeInWorker ?? false }), limits, name), { name, onWarning: once, limits: { maxHeaderBytes: limits.maxHeaderBytes } }),
      limits,
      name,
    );
  return writeOverlayTar(read, {
    name,
    userxattr: opts.userxattr ?? false,
    onWarning: once,
    reuse: opts.volatile ?? false,
  });
}
