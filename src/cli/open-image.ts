/** Opening the image a command names, with --platform, --ref and warnings (flatten, ls, hidden, recover). */
import { type Image, openImage } from '../image/image.js';
import { warn } from './output.js';

export async function openImageFor(inputs: readonly string[], a: { platform?: string; ref?: string; quiet: boolean }): Promise<Image> {
  return openImage(inputs, {
    ...(a.platform !== undefined ? { platform: a.platform } : {}),
    ...(a.ref !== undefined ? { ref: a.ref } : {}),
    ...(a.quiet ? {} : { onWarning: warn }),
  });
}
