/**
 * An image whose config and manifest disagree on the number of layers is
 * refused by openImage, rightly: no diffID can be matched to a layer. A linter
 * still wants the layers (a hostile image is exactly where they matter), so
 * here they are opened as the manifest lists them, each blob checked against
 * its descriptor, no diffID checked.
 */
import type { WhiteoutError } from '../errors.js';
import { type Image, type ImageLayer, imageLayer, resolveArchive } from '../image/image.js';
import { classifyInput } from '../image/input.js';
import { parsePlatform } from '../image/platform.js';

export function isLayerCountMismatch(e: WhiteoutError): boolean {
  return /diffIDs but the manifest/.test(e.why);
}

/** The layers of one image input as its manifest lists them, or undefined when it is not an image archive. */
export async function openManifestLayers(input: string, sel: { platform?: string; ref?: string }): Promise<Image | undefined> {
  const c = await classifyInput(input);
  if (c.kind !== 'image') {
    await c.close();
    return undefined;
  }
  const archive = c.archive;
  try {
    const r = await resolveArchive(archive, {
      ...(sel.ref !== undefined ? { ref: sel.ref } : {}),
      ...(sel.platform !== undefined ? { platform: parsePlatform(sel.platform) } : {}),
    });
    const layers: ImageLayer[] = [];
    for (const [i, src] of r.layers.entries()) layers.push(imageLayer(archive, src, i, undefined, src.size ?? (await archive.size(src.member)) ?? 0, undefined));
    return { what: archive.what, format: r.format, layers, close: () => archive.close() };
  } catch (e) {
    await archive.close();
    throw e;
  }
}
