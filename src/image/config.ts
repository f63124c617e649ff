/**
 * The image config (config.md): the layers' diffIDs, which every layer is
 * checked against, and the history, which says what built each layer.
 */
import { WhiteoutError } from '../errors.js';
import { type Digest, parseDigest } from './digest.js';
import { type JsonObject, asArray, asObject, isObject, optString, parseJson } from './json.js';
import type { Platform } from './platform.js';

export interface HistoryStep {
  created?: string;
  createdBy?: string;
  comment?: string;
  author?: string;
  /** No layer came of this step (`empty_layer`). */
  emptyLayer: boolean;
}

export interface ImageConfig {
  diffIDs: Digest[];
  history: HistoryStep[];
  platform?: Platform;
  raw: JsonObject;
}

export function parseConfig(bytes: Buffer, what: string): ImageConfig {
  const raw = asObject(parseJson(bytes, what), what);
  const rootfs = asObject(raw.rootfs, `${what} rootfs`);
  const type = optString(rootfs, 'type', `${what} rootfs`);
  // config.md: implementations MUST error on an unknown rootfs.type when unpacking.
  if (type !== 'layers') throw new WhiteoutError(what, `rootfs.type is ${JSON.stringify(type)}, not "layers"`, 'input');
  const diffIDs = asArray(rootfs.diff_ids, `${what} rootfs.diff_ids`).map((d, i) => parseDigest(d, `${what} rootfs.diff_ids[${i}]`));
  const history = asArray(raw.history, `${what} history`).map((h, i): HistoryStep => {
    const hw = `${what} history[${i}]`;
    if (!isObject(h)) return { emptyLayer: false };
    const step: HistoryStep = { emptyLayer: h.empty_layer === true };
    const created = optString(h, 'created', hw);
    const createdBy = optString(h, 'created_by', hw);
    const comment = optString(h, 'comment', hw);
    const author = optString(h, 'author', hw);
    if (created !== undefined) step.created = created;
    if (createdBy !== undefined) step.createdBy = createdBy;
    if (comment !== undefined) step.comment = comment;
    if (author !== undefined) step.author = author;
    return step;
  });
  const os = typeof raw.os === 'string' ? raw.os : undefined;
  const arch = typeof raw.architecture === 'string' ? raw.architecture : undefined;
  const variant = typeof raw.variant === 'string' ? raw.variant : undefined;
  const config: ImageConfig = { diffIDs, history, raw };
  if (os && arch) config.platform = variant ? { os, architecture: arch, variant } : { os, architecture: arch };
  return config;
}

/**
 * The history step that made each layer: steps marked `empty_layer` made
 * none, the others made one each, in order (config.md §history). A history
 * that does not add up is mapped as far as it goes, and `onMismatch` is told.
 */
export function historyOfLayers(history: readonly HistoryStep[], layers: number, onMismatch?: (steps: number) => void): (HistoryStep | undefined)[] {
  const real = history.filter((h) => !h.emptyLayer);
  if (history.length > 0 && real.length !== layers) onMismatch?.(real.length);
  return Array.from({ length: layers }, (_, i) => real[i]);
}
