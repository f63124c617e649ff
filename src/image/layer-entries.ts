/**
 * A layer's entries, for flatten, unpack and ls alike. When reading fails
 * part-way (a bad header, corrupt gzip), the blob is read once more to its
 * end and checked: if its digest or diffID is wrong, that is what is reported,
 * since a damaged blob is the cause and the parse error only its symptom.
 */
import type { Entry } from '../entry.js';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { readOciLayer } from '../layer/oci-read.js';
import type { ImageLayer, LayerEvents, LayerReadOptions } from './image.js';
import { type Limits, checkByteLimit, checkEntryLimits, resolveLimits } from '../layer/limits.js';

async function damage(layer: ImageLayer): Promise<WhiteoutError | undefined> {
  if (!layer.digest && !layer.diffID) return undefined;
  try {
    for await (const _ of layer.open()) {
      // read to the end: the checks run there
    }
  } catch (e) {
    if (e instanceof WhiteoutError && /mismatch|descriptor says/.test(e.why)) return e;
  }
  return undefined;
}

export async function* layerEntries(
  layer: ImageLayer,
  opts: {
    onWarning?: WarningSink;
    events?: LayerEvents;
    limits?: Partial<Limits> | undefined;
    /** The reader may stop early; use the layer's openPrefix when it has one. */
    prefix?: boolean;
  } & LayerReadOptions = {},
): AsyncGenerator<Entry> {
  const limits = resolveLimits(opts.limits);
  try {
    const read: LayerReadOptions = { volatile: opts.volatile ?? false };
    const bytes = opts.prefix && layer.openPrefix ? layer.openPrefix(opts.events, read) : layer.open(opts.events, read);
    const tar = checkByteLimit(bytes, limits, layer.what);
    const entries = readOciLayer(tar, { name: layer.what, limits: { maxHeaderBytes: limits.maxHeaderBytes }, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
    yield* checkEntryLimits(entries, limits, layer.what);
  } catch (e) {
    if (e instanceof WhiteoutError && !/mismatch|descriptor says/.test(e.why)) throw (await damage(layer)) ?? e;
    throw e;
  }
}
