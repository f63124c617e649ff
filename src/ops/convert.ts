/**
 * convert = tar reader → tar writer, between the OCI form and the overlay form
 * carried in a tar (SPEC.md §convert).
 */
import type { WarningSink } from '../errors.js';
import { readOciLayer } from '../layer/oci-read.js';
import { writeOciLayer } from '../layer/oci-write.js';
import { readOverlayTar, writeOverlayTar } from '../layer/overlay-tar.js';
import { decompress } from '../tar/compress.js';

export interface ConvertOptions {
  userxattr?: boolean;
  name?: string;
  onWarning?: WarningSink;
}

/** Overlay-form tar (any compression) → uncompressed OCI layer tar. One pass. */
export function convertToOci(source: AsyncIterable<Buffer>, opts: ConvertOptions = {}): AsyncIterable<Buffer> {
  const name = opts.name ?? 'layer';
  return writeOciLayer(
    readOverlayTar(decompress(source, { name }), {
      name,
      userxattr: opts.userxattr ?? false,
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    }),
  );
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
  return writeOverlayTar(() => readOciLayer(decompress(open(), { name }), { name, onWarning: once }), {
    name,
    userxattr: opts.userxattr ?? false,
    onWarning: once,
  });
}
