/** The audit of an image's layers: verified layer streams, limits, progress on a TTY. */
import type { ImageLayer } from '../image/image.js';
import { makeProgress } from '../image/progress.js';
import type { Limits } from '../layer/limits.js';
import { mergeLayersOf, once } from '../rootfs/flatten.js';
import { type AuditOptions, type AuditResult, auditLayers } from './audit.js';

export interface ImageAuditOptions extends AuditOptions {
  limits?: Partial<Limits>;
  /** Progress on stderr (default: when stderr is a TTY). */
  progress?: boolean;
}

export async function auditImageLayers(layers: readonly ImageLayer[], opts: ImageAuditOptions = {}): Promise<AuditResult> {
  const progress = makeProgress(
    layers.reduce((n, l) => n + l.size, 0),
    opts.progress,
  );
  const warn = once(opts.onWarning);
  // The audit reads a body (a secret scan) as text before it asks for the next entry: reused buffers serve (SPEC.md §10).
  const sources = mergeLayersOf(layers, progress, warn, opts.limits, { volatile: true }).map((m, i) => ({ ...m, index: (layers[i] as ImageLayer).index }));
  try {
    return await auditLayers(sources, { ...opts, ...(warn ? { onWarning: warn } : {}) });
  } finally {
    progress.done();
  }
}
