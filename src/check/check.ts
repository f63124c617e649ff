/**
 * `whiteout check` as a library call: what the input is (an overlay
 * directory, an image, or layer tars bottom first), then every finding.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { type Image, openImage } from '../image/image.js';
import type { ImageFormat } from '../image/resolved.js';
import type { Limits } from '../layer/limits.js';
import { type Counts, type Finding, countFindings, finding } from './finding.js';
import { type CheckedLayer, checkImageLayers } from './image-check.js';
import { isLayerCountMismatch, openManifestLayers } from './manifest-layers.js';
import { checkOverlayDir } from './overlay-dir-lint.js';

export type CheckTarget = 'image' | 'layers' | 'overlay-dir';

export interface CheckReport extends Counts {
  input: string;
  target: CheckTarget;
  /** The image format, for an image. */
  format?: ImageFormat;
  layers: CheckedLayer[];
  findings: Finding[];
}

export interface CheckOptions {
  platform?: string;
  ref?: string;
  /** An overlay directory keeps `.wh.` files as whiteouts (fuse-overlayfs). */
  aufs?: boolean;
  limits?: Partial<Limits>;
  onWarning?: WarningSink;
}

/** A directory that is not an image layout is an overlay upper or diff directory. */
export function isOverlayDir(input: string): boolean {
  if (input === '-') return false;
  let st: fs.Stats;
  try {
    st = fs.statSync(input);
  } catch {
    return false;
  }
  return st.isDirectory() && !['index.json', 'manifest.json', 'oci-layout'].some((n) => fs.existsSync(path.join(input, n)));
}

function report(input: string, target: CheckTarget, layers: CheckedLayer[], findings: Finding[], format?: ImageFormat): CheckReport {
  return { input, target, ...(format ? { format } : {}), layers, findings, ...countFindings(findings) };
}

/** Problems with an image's documents are findings too; a missing input or an I/O failure is an error. */
function isImageProblem(e: unknown): e is WhiteoutError {
  return e instanceof WhiteoutError && (e.code === 'input' || e.code === 'unsafe' || e.code === 'unrepresentable') && !/no such file/.test(e.why);
}

export async function checkInputs(inputs: readonly string[], opts: CheckOptions = {}): Promise<CheckReport> {
  const what = inputs.length === 1 ? (inputs[0] as string) : `${inputs.length} layers`;
  const dirs = inputs.filter(isOverlayDir);
  if (dirs.length > 0) {
    if (inputs.length > 1) throw new WhiteoutError(dirs[0] as string, 'an overlay directory is checked on its own', 'usage');
    return report(what, 'overlay-dir', [], checkOverlayDir(dirs[0] as string, { aufs: opts.aufs ?? false }));
  }
  for (const i of inputs) if (i !== '-' && !fs.existsSync(i)) throw new WhiteoutError(i, 'no such file or directory', 'input');
  let image: Image | undefined;
  const preamble: Finding[] = [];
  try {
    image = await openImage(inputs, {
      ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
      ...(opts.ref !== undefined ? { ref: opts.ref } : {}),
      ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
    });
  } catch (e) {
    if (!isImageProblem(e)) throw e;
    const invalid = finding('image-invalid', `${e.what}: ${e.why}`);
    // The layers are still worth reading when only the diffID count is wrong.
    image = inputs.length === 1 && isLayerCountMismatch(e) ? await openManifestLayers(inputs[0] as string, opts).catch(() => undefined) : undefined;
    if (!image) return report(what, 'image', [], [invalid]);
    invalid.message += '; the layers are checked as the manifest lists them, without diffIDs';
    preamble.push(invalid);
  }
  try {
    const { layers, findings } = await checkImageLayers(image, opts.limits ? { limits: opts.limits } : {});
    return report(image.what, image.format === 'layers' ? 'layers' : 'image', layers, [...preamble, ...findings], image.format);
  } finally {
    await image.close();
  }
}
