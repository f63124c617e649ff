/**
 * Where `unpack <image>` keeps each layer: `<dir>/layers/<diffID hex>/`, and a
 * sidecar `<name>.json` saying how it was written. A layer's overlay form
 * depends on the layers below it (implied directories copy their metadata; a
 * whiteout of something absent below is not stored), so a directory is reused
 * only for the same ChainID (config.md: the layer and everything below it)
 * and the same form. The same diffID over other layers goes to
 * `<diffID hex>-<ChainID hex>/`.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WhiteoutError, hasCode } from '../errors.js';
import { writeFileAtomic } from '../fs/atomic.js';
import type { OverlayForm } from '../overlay/forms.js';
import { type IdMapping, isIdentity } from '../rootfs/idmap.js';
import { parseDigest } from './digest.js';
import { type JsonObject, isObject, parseJson } from './json.js';

/** How a layer directory was written: reused only when all of it matches. */
export interface Recipe {
  diffID: string;
  chainID: string;
  whiteouts: string;
  userxattr: boolean;
  uidMap: string[];
  gidMap: string[];
}

/** ChainIDs of a stack, bottom first (config.md §Layer ChainID). */
export function chainIDs(diffIDs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIDs) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

export function recipeOf(diffID: string, chainID: string, form: OverlayForm, idMap: IdMapping | undefined): Recipe {
  const ranges = (rs: IdMapping['uids']) => rs.map((r) => `${r.container}:${r.host}:${r.count}`);
  const mapped = !isIdentity(idMap) && idMap !== undefined;
  return { diffID, chainID, whiteouts: form.whiteouts, userxattr: form.userxattr, uidMap: mapped ? ranges(idMap.uids) : [], gidMap: mapped ? ranges(idMap.gids) : [] };
}

async function readSidecar(file: string): Promise<JsonObject | undefined> {
  try {
    const v = parseJson(await fs.promises.readFile(file), file);
    return isObject(v) ? v : undefined;
  } catch (e) {
    if (hasCode(e, 'ENOENT')) return undefined;
    throw e;
  }
}

export interface Place {
  dir: string;
  /** It is there, written the same way: use it as it is. */
  reuse: boolean;
  /** Record the recipe (before writing the layer). */
  record(): Promise<void>;
}

/** The directory for a layer: one to reuse, or a free one to write. */
export async function placeFor(layersDir: string, recipe: Recipe, what: string): Promise<Place> {
  const diffHex = parseDigest(recipe.diffID, `${what} diffID`).hex;
  const chainHex = parseDigest(recipe.chainID, `${what} chainID`).hex;
  for (const name of [diffHex, `${diffHex}-${chainHex}`]) {
    const dir = path.join(layersDir, name);
    const sidecar = `${dir}.json`;
    const record = () => writeFileAtomic(sidecar, true, (async function* () {
      yield Buffer.from(`${JSON.stringify(recipe, null, 2)}\n`);
    })());
    if (!fs.existsSync(dir)) return { dir, reuse: false, record };
    const have = await readSidecar(sidecar);
    // Without a record, or for another chain, this directory is not the one: try the next name.
    if (!have || have.chainID !== recipe.chainID) continue;
    const diff = (['whiteouts', 'userxattr', 'uidMap', 'gidMap'] as const).filter((k) => JSON.stringify(have[k]) !== JSON.stringify(recipe[k]));
    if (diff.length > 0) {
      throw new WhiteoutError(what, `is already unpacked in ${dir} with a different ${diff.join(', ')} (see ${sidecar}); unpack into another directory`, 'exists');
    }
    return { dir, reuse: true, record };
  }
  throw new WhiteoutError(what, `${path.join(layersDir, diffHex)} and its ChainID-named sibling exist but were not written by whiteout for this image; remove them or unpack into another directory`, 'exists');
}
