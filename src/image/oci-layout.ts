/**
 * OCI image layouts (image-layout.md), in a directory or a tar, including the
 * one Docker 25+ `docker save` writes. `index.json` → (nested indexes) → one
 * image manifest, chosen by `--ref` and `--platform` → config and layers.
 * Every blob is read by a validated digest and checked against it.
 */
import { WhiteoutError } from '../errors.js';
import type { Archive } from './archive.js';
import { type Digest, blobPath, formatDigest, parseDigest, parseSize } from './digest.js';
import { type JsonObject, asArray, asObject, isObject, optString, optStringMap, parseJson } from './json.js';
import { CONFIG_TYPES, INDEX_TYPES, LAYER_TYPES, MANIFEST_TYPES, isNonDistributable } from './media-types.js';
import { type Platform, choosePlatform, formatPlatform } from './platform.js';
import { refMatches } from './ref.js';
import { type LayerSource, type ResolvedImage, type Selection, readMember } from './resolved.js';

interface Descriptor {
  mediaType?: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations: Map<string, string>;
}

const REF_KEYS = ['org.opencontainers.image.ref.name', 'io.containerd.image.name'];

function parseDescriptor(v: unknown, what: string): Descriptor {
  const o = asObject(v, what);
  const d: Descriptor = {
    digest: parseDigest(o.digest, what),
    size: parseSize(o.size, what),
    annotations: optStringMap(o, 'annotations', what),
  };
  const mt = optString(o, 'mediaType', what);
  if (mt !== undefined) d.mediaType = mt;
  if (isObject(o.platform)) {
    const os = optString(o.platform, 'os', `${what} platform`);
    const architecture = optString(o.platform, 'architecture', `${what} platform`);
    const variant = optString(o.platform, 'variant', `${what} platform`);
    if (os && architecture) d.platform = variant ? { os, architecture, variant } : { os, architecture };
  }
  return d;
}

async function readDocument(archive: Archive, d: Descriptor, what: string): Promise<JsonObject> {
  const bytes = await readMember(archive, blobPath(d.digest), `${what} ${formatDigest(d.digest)}`, d.digest, d.size);
  return asObject(parseJson(bytes, `${archive.what}: ${what}`), `${archive.what}: ${what}`);
}

/** Index or manifest? Refuse a document that claims to be both (CVE-2021-41190). */
function kindOf(doc: JsonObject, declared: string | undefined, what: string): 'index' | 'manifest' {
  const hasManifests = doc.manifests !== undefined;
  const hasLayers = doc.layers !== undefined || doc.config !== undefined;
  if (hasManifests && hasLayers) throw new WhiteoutError(what, 'has both manifests and layers: ambiguous, refused', 'input');
  const own = optString(doc, 'mediaType', what);
  if (own !== undefined && declared !== undefined && own !== declared) {
    throw new WhiteoutError(what, `says it is ${own} but its descriptor says ${declared}`, 'input');
  }
  const mt = own ?? declared;
  if (mt !== undefined && INDEX_TYPES.has(mt)) return 'index';
  if (mt !== undefined && MANIFEST_TYPES.has(mt)) return 'manifest';
  return hasManifests ? 'index' : 'manifest';
}

interface Candidate {
  desc: Descriptor;
  /** The reference names of the top-level descriptor it came through. */
  refs: string[];
}

async function collect(archive: Archive, descs: readonly unknown[], refs: string[] | undefined, depth: number, out: Candidate[], what: string): Promise<void> {
  for (const [i, v] of descs.entries()) {
    const d = parseDescriptor(v, `${archive.what}: ${what} manifests[${i}]`);
    const myRefs = refs ?? REF_KEYS.map((k) => d.annotations.get(k)).filter((x): x is string => x !== undefined);
    // Attestations and signatures ride along in indexes as "unknown/unknown".
    if (d.platform?.os === 'unknown') continue;
    if (d.mediaType !== undefined && !INDEX_TYPES.has(d.mediaType) && !MANIFEST_TYPES.has(d.mediaType)) continue; // unknown: MUST NOT error
    if (d.mediaType !== undefined && MANIFEST_TYPES.has(d.mediaType)) {
      out.push({ desc: d, refs: myRefs });
      continue;
    }
    const doc = await readDocument(archive, d, 'manifest');
    if (kindOf(doc, d.mediaType, `${archive.what}: ${formatDigest(d.digest)}`) === 'manifest') {
      out.push({ desc: d, refs: myRefs });
      continue;
    }
    if (depth >= 4) throw new WhiteoutError(archive.what, 'image indexes nested too deep', 'input');
    await collect(archive, asArray(doc.manifests, `${archive.what}: index ${formatDigest(d.digest)}`), myRefs, depth + 1, out, `index ${formatDigest(d.digest)}`);
  }
}

function describeCandidates(cs: readonly Candidate[]): string {
  const names = new Set<string>();
  for (const c of cs) names.add(c.refs[0] ?? `(untagged ${formatDigest(c.desc.digest).slice(0, 19)})`);
  return [...names].join(', ');
}

function layerSource(v: unknown, what: string): LayerSource {
  const d = parseDescriptor(v, what);
  if (d.mediaType === undefined) throw new WhiteoutError(what, 'has no mediaType', 'input');
  if (!LAYER_TYPES.has(d.mediaType)) throw new WhiteoutError(what, `unknown layer media type '${d.mediaType}'`, 'input');
  return { member: blobPath(d.digest), mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/**
 * The image an OCI layout holds, chosen by `sel`; undefined when `index.json`
 * lists no images (Docker 25's `docker save` may leave it empty and rely on
 * `manifest.json`).
 */
export async function resolveOciLayout(archive: Archive, sel: Selection): Promise<ResolvedImage | undefined> {
  const what = archive.what;
  if ((await archive.size('oci-layout')) !== undefined) {
    const layout = asObject(parseJson(await readMember(archive, 'oci-layout', 'oci-layout'), `${what}: oci-layout`), `${what}: oci-layout`);
    const version = optString(layout, 'imageLayoutVersion', `${what}: oci-layout`);
    if (version !== undefined && !version.startsWith('1.')) {
      throw new WhiteoutError(what, `image layout version ${version} is not supported (1.x is)`, 'input');
    }
  }
  const index = asObject(parseJson(await readMember(archive, 'index.json', 'index.json'), `${what}: index.json`), `${what}: index.json`);
  const top = asArray(index.manifests, `${what}: index.json manifests`);
  if (top.length === 0) return undefined;
  let candidates: Candidate[] = [];
  await collect(archive, top, undefined, 0, candidates, 'index.json');
  if (candidates.length === 0) throw new WhiteoutError(what, 'index.json lists no image manifests', 'input');

  if (sel.ref !== undefined) {
    const want = sel.ref;
    const chosen = candidates.filter((c) => c.refs.some((r) => refMatches(want, r)));
    if (chosen.length === 0) throw new WhiteoutError(what, `no image named '${want}'; it has: ${describeCandidates(candidates)}`, 'input');
    candidates = chosen;
  } else {
    // Several differently named images (not platforms of one) need --ref.
    const groups = new Set(candidates.map((c) => c.refs[0] ?? ''));
    if (groups.size > 1) throw new WhiteoutError(what, `holds ${groups.size} images: ${describeCandidates(candidates)} (choose with --ref)`, 'input');
  }
  const picked = choosePlatform(candidates, (c) => c.desc.platform, sel.platform, what);
  const mdesc = picked.desc;
  const manifest = await readDocument(archive, mdesc, 'manifest');
  const mwhat = `${what}: manifest ${formatDigest(mdesc.digest)}`;
  if (kindOf(manifest, mdesc.mediaType, mwhat) !== 'manifest') throw new WhiteoutError(mwhat, 'is not an image manifest', 'input');
  const mt = optString(manifest, 'mediaType', mwhat) ?? mdesc.mediaType;
  if (mt !== undefined && !MANIFEST_TYPES.has(mt)) throw new WhiteoutError(mwhat, `unknown manifest media type '${mt}'`, 'input');

  const cdesc = parseDescriptor(manifest.config, `${mwhat} config`);
  if (cdesc.mediaType !== undefined && !CONFIG_TYPES.has(cdesc.mediaType)) {
    throw new WhiteoutError(mwhat, `config media type '${cdesc.mediaType}' is not a container image config`, 'input');
  }
  const config = await readMember(archive, blobPath(cdesc.digest), `config ${formatDigest(cdesc.digest)}`, cdesc.digest, cdesc.size);
  const layers = asArray(manifest.layers, `${mwhat} layers`).map((v, i) => layerSource(v, `${mwhat} layers[${i}]`));
  for (const [i, l] of layers.entries()) {
    if ((await archive.size(l.member)) === undefined) {
      const nd = isNonDistributable(l.mediaType) ? ' (a non-distributable layer: the archive does not carry it)' : '';
      throw new WhiteoutError(what, `blob ${l.digest ? formatDigest(l.digest) : l.member} of layer ${i} is missing${nd}`, 'input');
    }
  }
  const ref = picked.refs[0];
  return {
    format: 'oci-layout',
    ...(ref !== undefined ? { ref } : {}),
    manifestDigest: formatDigest(mdesc.digest),
    config,
    configDigest: formatDigest(cdesc.digest),
    layers,
    ...(mdesc.platform ? { platform: formatPlatform(mdesc.platform) } : {}),
  };
}
