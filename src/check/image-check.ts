/**
 * `check` of an image or of layer tars (a stack, bottom first): each layer is
 * linted to its end (src/check/layer-lint.ts), bottom first, against the
 * merged view of the layers below it, and its blob is verified against the
 * manifest's digest and size and the config's diffID while it streams. A
 * mismatch is a finding, and the next layer is still checked.
 */
import { WhiteoutError } from '../errors.js';
import type { Image, ImageLayer } from '../image/image.js';
import type { Measured } from '../image/verify.js';
import { type Limits, checkByteLimit, resolveLimits } from '../layer/limits.js';
import type { Finding } from './finding.js';
import { type LayerRef, failureFinding, lintLayerTar } from './layer-lint.js';
import { MergedTree } from './merged-tree.js';

export interface CheckedLayer {
  index: number;
  diffID?: string;
  digest?: string;
  mediaType?: string;
  /** The blob's size in bytes. */
  size: number;
  /** sha256 of the uncompressed tar as read, when it was read to its end. */
  computedDiffID?: string;
  uncompressedSize?: number;
  /** False when a read failure or a limit stopped the pass before the end of the tar. */
  complete: boolean;
}

export interface CheckImageOptions {
  limits?: Partial<Limits>;
}

const MISMATCH = /mismatch|descriptor says/;

/** Read a layer's blob to its end only for its digests: after a parse failure, a wrong digest is the likely cause. */
async function digestFailure(layer: ImageLayer, ref: LayerRef): Promise<Finding | undefined> {
  try {
    for await (const _ of layer.open()) {
      // the verifying streams check at the end
    }
  } catch (e) {
    if (e instanceof WhiteoutError && MISMATCH.test(e.why)) return failureFinding(e, ref);
    if (!(e instanceof WhiteoutError)) throw e;
  }
  return undefined;
}

function byOffset(a: Finding, b: Finding): number {
  return (a.offset ?? -1) - (b.offset ?? -1);
}

/**
 * Check every layer, bottom first. Image-level rules (whiteouts and opaque
 * markers that hide nothing, paths through lower symlinks) run when the layers
 * below are known: for an image, and for two or more layer tars.
 */
export async function checkImageLayers(image: Image, opts: CheckImageOptions = {}): Promise<{ layers: CheckedLayer[]; findings: Finding[] }> {
  const limits = resolveLimits(opts.limits);
  const below = image.format !== 'layers' || image.layers.length > 1 ? new MergedTree() : undefined;
  const layers: CheckedLayer[] = [];
  const findings: Finding[] = [];
  for (const [i, layer] of image.layers.entries()) {
    const ref: LayerRef = { index: layer.index, ...(layer.diffID ? { diffID: layer.diffID } : {}) };
    const found: Finding[] = [];
    let measured: Measured | undefined;
    // The lint reads headers only: the layer's chunks may be refilled (LayerReadOptions.volatile).
    const tar = checkByteLimit(layer.open({ onTar: (m) => (measured = m) }, { volatile: true }), limits, layer.what);
    const end = await lintLayerTar(tar, { layer: ref, what: layer.what, limits, report: (f) => found.push(f), ...(below ? { below, top: i === image.layers.length - 1 } : {}) });
    if (!end.complete && (end.stoppedBy === 'truncated' || end.stoppedBy === 'bad-tar') && (layer.digest || layer.diffID)) {
      const f = await digestFailure(layer, ref);
      if (f) found.push(f);
    }
    const m = measured as Measured | undefined;
    layers.push({
      index: layer.index,
      ...(layer.diffID ? { diffID: layer.diffID } : {}),
      ...(layer.digest ? { digest: layer.digest } : {}),
      ...(layer.mediaType ? { mediaType: layer.mediaType } : {}),
      size: layer.size,
      ...(m ? { computedDiffID: m.digest, uncompressedSize: m.size } : {}),
      complete: end.complete,
    });
    findings.push(...found.sort(byOffset));
  }
  return { layers, findings };
}
