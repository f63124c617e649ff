/**
 * `manifest.json` archives: `docker save` (legacy `<id>/layer.tar` layout, and
 * Docker 25+ with `blobs/sha256/…` paths), skopeo's docker-archive, and the
 * kaniko/crane tarball (config named `sha256:<hex>`, `<digest>.tar.gz`
 * layers). Docker's image spec v1.2: "current implementations use the paths
 * specified in manifest.json". Those paths are untrusted (CVE-2014-9358): the
 * archive refuses any that would leave it.
 */
import { WhiteoutError } from '../errors.js';
import { display } from '../paths.js';
import type { Archive } from './archive.js';
import { type Digest, digestInName, formatDigest, parseDigest, parseSize } from './digest.js';
import { type JsonObject, asArray, asObject, isObject, needString, optString, parseJson } from './json.js';
import { LAYER_TYPES, isNonDistributable } from './media-types.js';
import { refMatches } from './ref.js';
import { type LayerSource, type ResolvedImage, type Selection, readMember } from './resolved.js';

interface Entry {
  config: string;
  tags: string[];
  layers: string[];
  /** Docker's `LayerSources`: descriptors keyed by diffID. */
  sources: Map<string, JsonObject>;
}

function parseEntry(v: unknown, what: string): Entry {
  const o = asObject(v, what);
  const sources = new Map<string, JsonObject>();
  if (isObject(o.LayerSources)) for (const [k, d] of Object.entries(o.LayerSources)) if (isObject(d)) sources.set(k, d);
  return {
    config: needString(o, 'Config', what),
    tags: asArray(o.RepoTags, `${what} RepoTags`).filter((t): t is string => typeof t === 'string'),
    layers: asArray(o.Layers, `${what} Layers`).map((l, i) => {
      if (typeof l !== 'string') throw new WhiteoutError(what, `Layers[${i}] is not a string`, 'input');
      return l;
    }),
    sources,
  };
}

/** A blob path `blobs/sha256/<hex>` (Docker 25) names its digest. */
function blobDigest(member: string): Digest | undefined {
  return /^(?:\.\/)?blobs\/sha256\/[a-f0-9]{64}$/.test(member) ? digestInName(member) : undefined;
}

export async function resolveDockerArchive(archive: Archive, sel: Selection, diffIDsOf: (config: Buffer) => readonly Digest[]): Promise<ResolvedImage> {
  const what = archive.what;
  const doc = parseJson(await readMember(archive, 'manifest.json', 'manifest.json'), `${what}: manifest.json`);
  const entries = asArray(doc, `${what}: manifest.json`).map((v, i) => parseEntry(v, `${what}: manifest.json [${i}]`));
  if (entries.length === 0) throw new WhiteoutError(what, 'manifest.json lists no images', 'input');
  const names = () => entries.map((e, i) => e.tags[0] ?? `(untagged image ${i})`).join(', ');
  let chosen: Entry | undefined;
  let ref: string | undefined;
  if (sel.ref !== undefined) {
    const want = sel.ref;
    chosen = entries.find((e) => e.tags.some((t) => refMatches(want, t)));
    if (!chosen) throw new WhiteoutError(what, `no image named '${want}'; it has: ${names()}`, 'input');
    ref = chosen.tags.find((t) => refMatches(want, t));
  } else {
    if (entries.length > 1) throw new WhiteoutError(what, `holds ${entries.length} images: ${names()} (choose with --ref)`, 'input');
    chosen = entries[0] as Entry;
    ref = chosen.tags[0];
  }

  // Docker names a config by its digest (`<hex>.json`, `blobs/sha256/<hex>`, kaniko's `sha256:<hex>`): check it.
  const configDigest = digestInName(chosen.config);
  const config = await readMember(archive, chosen.config, `config '${display(chosen.config)}'`, configDigest);
  const diffIDs = diffIDsOf(config);
  const layers: LayerSource[] = [];
  for (const [i, member] of chosen.layers.entries()) {
    const lwhat = `${what}: layer ${i} ('${display(member)}')`;
    const src: LayerSource = { member };
    const d = blobDigest(member);
    if (d) src.digest = d;
    const diffID = diffIDs[i];
    const desc = diffID ? chosen.sources.get(formatDigest(diffID)) : undefined;
    if (desc) {
      const mt = optString(desc, 'mediaType', lwhat);
      if (mt !== undefined) {
        if (!LAYER_TYPES.has(mt)) throw new WhiteoutError(lwhat, `unknown layer media type '${mt}'`, 'input');
        src.mediaType = mt;
      }
      if (desc.digest !== undefined) src.digest = parseDigest(desc.digest, lwhat);
      if (desc.size !== undefined) src.size = parseSize(desc.size, lwhat);
    }
    if ((await archive.size(member)) === undefined) {
      const nd = isNonDistributable(src.mediaType) ? ' (a foreign/non-distributable layer: the archive does not carry it)' : '';
      throw new WhiteoutError(what, `layer ${i} ('${display(member)}') is missing${nd}`, 'input');
    }
    layers.push(src);
  }
  return {
    format: 'docker-archive',
    ...(ref !== undefined ? { ref } : {}),
    config,
    ...(configDigest ? { configDigest: formatDigest(configDigest) } : {}),
    layers,
  };
}
