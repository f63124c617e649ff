/**
 * recover: a path as the image had it at a layer (SPEC.md §15.5). First a
 * scoped audit finds which layers hold the path and which of those copies
 * are hidden; then the merged view of layers 0..N at that path (flatten with
 * `--layers ..N --path`) gives the content: a file's bytes, or a directory's
 * subtree as a tar. Flatten already keeps hardlinks inside the subtree as
 * links and turns one whose target lies outside into a copy of the content.
 */
import type { ContentEntry } from '../entry.js';
import { WhiteoutError, type WarningSink } from '../errors.js';
import type { ImageLayer } from '../image/image.js';
import type { Limits } from '../layer/limits.js';
import { writeOciLayer } from '../layer/oci-write.js';
import { ROOT, display, fromText, isWithin, normalizeName, parentOf } from '../paths.js';
import { flattenEntries } from '../rootfs/flatten.js';
import type { Presence } from './audit.js';
import { auditImageLayers } from './audit-image.js';

export interface RecoverOptions {
  /** `--layer N`: the copy of this layer (default: the topmost hidden copy, else the topmost). */
  layer?: number;
  limits?: Partial<Limits>;
  onWarning?: WarningSink;
  progress?: boolean;
}

export interface RecoverSource {
  /** The layer whose copy it is. */
  layer: number;
  kind: ContentEntry['kind'];
  hiddenBy?: Presence['hiddenBy'];
  /** Every layer that holds the path, bottom first. */
  holders: Presence[];
  /** A file's bytes, or for a directory an uncompressed tar of its subtree. */
  format: 'content' | 'tar';
  /**
   * The bytes. `lookahead` reads each layer once more first, for a malformed
   * layer that replaces its own directory (NeedsLookahead; a file output can retry).
   */
  data(lookahead?: boolean): AsyncGenerator<Buffer>;
}

/** `/abs/path` typed by a person → a layer path. */
export function parseImagePath(text: string): string {
  if (!text.startsWith('/')) throw new WhiteoutError(text, 'is not an absolute path in the image (it must start with /)', 'usage');
  return normalizeName(fromText(text), text);
}

function layerList(ps: readonly Presence[]): string {
  return ps.map((p) => `${p.layer} (${p.implied ? 'implied dir' : p.kind}${p.hiddenBy ? `, hidden by layer ${p.hiddenBy.layer}` : ''})`).join(', ');
}

/** Which copy: `--layer N`, or the topmost one that is hidden, or else the topmost. */
export function chooseCopy(holders: readonly Presence[], path: string, layer: number | undefined, image: string): Presence {
  const shown = `/${display(path)}`;
  if (holders.length === 0) throw new WhiteoutError(shown, `no layer of ${image} has this path`, 'input');
  if (layer !== undefined) {
    const p = holders.find((h) => h.layer === layer);
    if (!p) throw new WhiteoutError(`--layer ${layer}`, `layer ${layer} does not have ${shown}; layers that do: ${layerList(holders)}`, 'input');
    return p;
  }
  const hidden = holders.filter((h) => h.hiddenBy);
  return (hidden.length > 0 ? hidden[hidden.length - 1] : holders[holders.length - 1]) as Presence;
}

/** Names in the tar are relative to the directory's parent, as `tar -C parent -c name` (and `docker cp`) write them. */
function rebase(path: string): (p: string) => string {
  const parent = parentOf(path);
  if (path === ROOT || parent === ROOT) return (p) => p;
  const cut = parent.length + 1;
  return (p) => p.slice(cut);
}

async function* subtree(entries: AsyncIterable<ContentEntry>, path: string): AsyncGenerator<ContentEntry> {
  const name = rebase(path);
  for await (const e of entries) {
    if (!isWithin(e.path, path)) continue; // the directories leading to it
    if (e.kind === 'hardlink') yield { ...e, path: name(e.path), target: name(e.target) };
    else yield { ...e, path: name(e.path) };
  }
}

async function* fileContent(entries: AsyncIterable<ContentEntry>, path: string, what: string): AsyncGenerator<Buffer> {
  for await (const e of entries) {
    if (e.path !== path) continue;
    if (e.kind !== 'file') throw new WhiteoutError(what, `is a ${e.kind} in the merged view, not a file`, 'input');
    yield* e.body;
    return; // the lower layers have nothing more to give
  }
  throw new WhiteoutError(what, 'is not in the merged view of those layers', 'input');
}

/** Locate `pathText` in the layers and say where its content comes from. */
export async function recoverPath(layers: readonly ImageLayer[], pathText: string, image: string, opts: RecoverOptions = {}): Promise<RecoverSource> {
  const path = parseImagePath(pathText);
  const shown = `/${display(path)}`;
  if (opts.layer !== undefined && !layers.some((l) => l.index === opts.layer)) {
    throw new WhiteoutError('--layer', `layer ${opts.layer} does not exist (the image has layers 0..${layers.length - 1})`, 'usage');
  }
  // Every layer holds the root, and nothing hides it.
  const presence =
    path === ROOT
      ? layers.map((l): Presence => ({ layer: l.index, kind: 'dir', implied: false }))
      : (
          await auditImageLayers(layers, {
            scope: path,
            ...(opts.limits ? { limits: opts.limits } : {}),
            ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
            ...(opts.progress !== undefined ? { progress: opts.progress } : {}),
          })
        ).presence;
  const copy = chooseCopy(presence, path, opts.layer, image);
  const kind = copy.kind;
  if (kind !== 'file' && kind !== 'hardlink' && kind !== 'dir') {
    const what = kind === 'symlink' ? 'a symlink' : `a ${kind === 'char' || kind === 'block' ? `${kind} device` : kind}`;
    throw new WhiteoutError(shown, `is ${what} in layer ${copy.layer}: it has no content to recover${kind === 'symlink' ? ' (recover what it points to)' : ''}`, 'input');
  }
  const flat = (lookahead: boolean) =>
    flattenEntries(
      layers,
      { to: copy.layer, path: pathText, progress: false, ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) },
      // A file's content ends the read early: what was read must still be proven.
      { lookahead, stopsEarly: true },
    ).entries;
  return {
    layer: copy.layer,
    kind,
    ...(copy.hiddenBy ? { hiddenBy: copy.hiddenBy } : {}),
    holders: presence,
    format: kind === 'dir' ? 'tar' : 'content',
    data: (lookahead = false) => (kind === 'dir' ? writeOciLayer(subtree(flat(lookahead), path)) : fileContent(flat(lookahead), path, shown)),
  };
}
