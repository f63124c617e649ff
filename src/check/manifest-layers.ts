/**
 * An image whose config and manifest disagree on the number of layers is
 * refused by openImage, rightly: no diffID can be matched to a layer. A linter
 * still wants the layers (a hostile image is exactly where they matter), so
 * here they are opened as the manifest lists them, each blob checked against
 * its descriptor, no diffID checked.
 */
import { WhiteoutError } from '../errors.js';
import type { Archive } from '../image/archive.js';
import { parseConfig } from '../image/config.js';
import { formatDigest } from '../image/digest.js';
import { resolveDockerArchive } from '../image/docker-archive.js';
import type { Image, ImageLayer } from '../image/image.js';
import { classifyInput } from '../image/input.js';
import { resolveOciLayout } from '../image/oci-layout.js';
import { parsePlatform } from '../image/platform.js';
import type { LayerSource, ResolvedImage, Selection } from '../image/resolved.js';
import { verified } from '../image/verify.js';
import { decompress } from '../tar/compress.js';

export function isLayerCountMismatch(e: WhiteoutError): boolean {
  return /diffIDs but the manifest/.test(e.why);
}

async function resolve(archive: Archive, sel: Selection): Promise<ResolvedImage> {
  if ((await archive.size('index.json')) !== undefined) {
    const r = await resolveOciLayout(archive, sel);
    if (r) return r;
  }
  return resolveDockerArchive(archive, sel, (bytes) => parseConfig(bytes, `${archive.what}: config`).diffIDs);
}

function manifestLayer(archive: Archive, src: LayerSource, index: number, size: number): ImageLayer {
  const what = `${archive.what}: layer ${index}`;
  const layer: ImageLayer = {
    index,
    what,
    size,
    open(events = {}) {
      const blob = verified(archive.open(src.member), { what: `${what} blob`, ...(src.digest ? { digest: src.digest } : {}), ...(src.size !== undefined ? { size: src.size } : {}) }, events.onBytes);
      return verified(decompress(blob, { name: what }), { what, label: 'diffID' }, undefined, events.onTar);
    },
  };
  if (src.mediaType !== undefined) layer.mediaType = src.mediaType;
  if (src.digest) layer.digest = formatDigest(src.digest);
  return layer;
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
    const r = await resolve(archive, {
      ...(sel.ref !== undefined ? { ref: sel.ref } : {}),
      ...(sel.platform !== undefined ? { platform: parsePlatform(sel.platform) } : {}),
    });
    const layers: ImageLayer[] = [];
    for (const [i, src] of r.layers.entries()) layers.push(manifestLayer(archive, src, i, src.size ?? (await archive.size(src.member)) ?? 0));
    return { what: archive.what, format: r.format, layers, close: () => archive.close() };
  } catch (e) {
    await archive.close();
    throw e;
  }
}
