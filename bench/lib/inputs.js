// Builds the benchmark inputs from a seed and caches them under bench/out/inputs,
// keyed by a hash of (generator version, seed, parameters): a re-run with the
// same key skips generation. Each layer is planned (plan.js), written as a
// directory tree, and archived by GNU tar with reproducible options — so the
// layers are what a real tool writes, not what our own tar writer thinks a tar is.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeRng } from './rng.js';
import { makeCorpus, fileChunks, writeChunks } from './content.js';
import { planBase, planUpper, applyLayer } from './plan.js';

/** Bump when the generator's output changes, so old caches are not reused. */
const GEN_VERSION = 4;

/** @typedef {import('./plan.js').Spec} Spec */

/** GNU tar, reproducible: sorted, numeric owners, no atime/ctime, no PID in PAX header names. */
export const GNU_TAR_CREATE = ['--sort=name', '--format=pax', '--numeric-owner', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime'];

/** @param {'full' | 'quick'} size */
export function params(size) {
  const k = size === 'quick' ? 0.1 : 1;
  const r = (/** @type {number} */ n) => Math.max(1, Math.round(n * k));
  return {
    corpus: size === 'quick' ? 2 << 20 : 8 << 20,
    // ~32k entries, ~1.1 GB: the layer of issue 7.
    big: { dirs: r(2600), files: r(27400), symlinks: r(1600), hardlinks: r(320), whiteouts: r(320), opaques: r(20), bytes: r(1.1e9) },
    // A deletion-heavy layer: 10,000 whiteouts.
    wh10k: { dirs: r(600), files: r(1400), symlinks: r(50), hardlinks: r(10), whiteouts: r(10000), opaques: r(10), bytes: r(16e6) },
    image: {
      base: { dirs: r(1600), files: r(16000), symlinks: r(900), hardlinks: r(150), whiteouts: 0, opaques: 0, bytes: r(560e6) },
      upper: { adds: r(1300), newDirs: r(40), modifies: r(300), deletes: r(250), dirDeletes: 3, opaques: 2, symlinks: r(60), hardlinks: r(10), bigFiles: 2 },
      layers: 5,
    },
  };
}

/** @param {unknown} v */
const keyOf = (v) => crypto.createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 12);

/** @param {string} p */
const depth = (p) => p.split('/').length;

/**
 * Write a planned layer as a directory tree. Order matters for the metadata:
 * chown before chmod (chown clears setuid), and directory modes and mtimes
 * last, deepest first, so writing children does not disturb them.
 * @param {Spec[]} specs @param {string} root @param {import('./content.js').Corpus} corpus
 */
export function materialize(specs, root, corpus) {
  fs.mkdirSync(root, { recursive: true });
  const dirs = specs.filter((s) => s.type === 'dir').sort((a, b) => depth(a.path) - depth(b.path));
  for (const d of dirs) fs.mkdirSync(path.join(root, d.path), { recursive: true });
  for (const s of specs) {
    const p = path.join(root, s.path);
    if (s.type === 'file') writeChunks(p, fileChunks(corpus, s.path, s.kind ?? 'bin', s.size ?? 0, s.seed ?? 0), 0o600);
    else if (s.type === 'whiteout' || s.type === 'opaque') writeChunks(p, [], 0o600);
    else if (s.type === 'symlink') fs.symlinkSync(/** @type {string} */ (s.target), p);
    else continue;
    fs.lchownSync(p, s.uid, s.gid);
    if (s.type !== 'symlink') fs.chmodSync(p, s.mode);
    fs.lutimesSync(p, s.mtime, s.mtime);
  }
  for (const s of specs) if (s.type === 'hardlink') fs.linkSync(path.join(root, /** @type {string} */ (s.target)), path.join(root, s.path));
  for (const d of dirs.reverse()) {
    const p = path.join(root, d.path);
    fs.chownSync(p, d.uid, d.gid);
    fs.chmodSync(p, d.mode);
    fs.utimesSync(p, d.mtime, d.mtime);
  }
  fs.chmodSync(root, 0o755);
  fs.utimesSync(root, 1600000000, 1600000000);
}

/** @param {string} file @returns {Promise<string>} */
export function sha256File(file) {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(file, { highWaterMark: 1 << 20 })
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** @param {string} tree @param {string} tarFile */
function gnuTar(tree, tarFile) {
  execFileSync('tar', [...GNU_TAR_CREATE, '-cf', tarFile, '-C', tree, '.'], { stdio: 'inherit' });
}

/** gzip -n: no name or time in the header, so the blob digest is reproducible. @param {string} tarFile @param {string} gzFile */
function gzip(tarFile, gzFile) {
  const fd = fs.openSync(gzFile, 'w');
  try {
    execFileSync('gzip', ['-n', '-6', '-c', tarFile], { stdio: ['ignore', fd, 'inherit'] });
  } finally {
    fs.closeSync(fd);
  }
}

/** @param {Spec[]} specs */
function countTypes(specs) {
  /** @type {Record<string, number>} */
  const c = {};
  for (const s of specs) c[s.type] = (c[s.type] ?? 0) + 1;
  c['bytes'] = specs.reduce((a, s) => a + (s.type === 'file' ? (s.size ?? 0) : 0), 0);
  return c;
}

/**
 * Run `build(tmpDir)` once per key: the result lives in `<inputs>/<name>-<key>`,
 * complete when its meta.json exists (written last, then the dir renamed in).
 * @template T
 * @param {string} inputsDir @param {string} name @param {unknown} keyMaterial
 * @param {(dir: string) => Promise<T>} build
 * @returns {Promise<{dir: string, meta: T, cached: boolean}>}
 */
async function cached(inputsDir, name, keyMaterial, build) {
  const dir = path.join(inputsDir, `${name}-${keyOf({ GEN_VERSION, keyMaterial })}`);
  const metaFile = path.join(dir, 'meta.json');
  if (fs.existsSync(metaFile)) return { dir, meta: JSON.parse(fs.readFileSync(metaFile, 'utf8')), cached: true };
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const t0 = Date.now();
  process.stderr.write(`bench: generating ${name} …\n`);
  const meta = await build(tmp);
  fs.writeFileSync(path.join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  process.stderr.write(`bench: generated ${name} in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return { dir, meta, cached: false };
}

/**
 * @typedef {object} LayerInput
 * @property {string} tar
 * @property {string} [gz]
 * @property {Record<string, number>} counts
 * @property {number} tarBytes
 * @property {number} [gzBytes]
 * @property {boolean} cached
 */
/**
 * @typedef {object} ImageInput
 * @property {string} layout   the OCI image layout dir (tag "latest")
 * @property {string[]} blobs  the layer blobs, bottom first
 * @property {string} expected JSON file: the merged tree the model predicts, [path, type][]
 * @property {Record<string, number>[]} counts
 * @property {number} gzBytes
 * @property {number} tarBytes
 * @property {boolean} cached
 */

/**
 * @param {string} outDir bench/out
 * @param {{seed: string, size: 'full' | 'quick'}} o
 * @returns {Promise<{big: LayerInput, wh10k: LayerInput, image: ImageInput, params: ReturnType<typeof params>}>}
 */
export async function ensureInputs(outDir, o) {
  const P = params(o.size);
  const inputsDir = path.join(outDir, 'inputs');
  fs.mkdirSync(inputsDir, { recursive: true });
  const rng = makeRng(o.seed);
  /** @type {import('./content.js').Corpus | undefined} */
  let corpus;
  const getCorpus = () => (corpus ??= makeCorpus(rng.fork('corpus'), P.corpus));

  /** @param {string} name @param {import('./plan.js').BaseCounts} counts @param {boolean} withGz */
  const layer = async (name, counts, withGz) => {
    const r = await cached(inputsDir, name, { seed: o.seed, counts, corpus: P.corpus, withGz }, async (tmp) => {
      const specs = planBase(rng.fork(name), counts);
      const tree = path.join(tmp, 'tree');
      materialize(specs, tree, getCorpus());
      gnuTar(tree, path.join(tmp, 'layer.tar'));
      fs.rmSync(tree, { recursive: true, force: true }); // the tar is the input; the tree would only cost disk
      if (withGz) gzip(path.join(tmp, 'layer.tar'), path.join(tmp, 'layer.tar.gz'));
      return { counts: countTypes(specs) };
    });
    const tar = path.join(r.dir, 'layer.tar');
    const gz = path.join(r.dir, 'layer.tar.gz');
    /** @type {LayerInput} */
    const li = { tar, counts: r.meta.counts, tarBytes: fs.statSync(tar).size, cached: r.cached };
    if (withGz) Object.assign(li, { gz, gzBytes: fs.statSync(gz).size });
    return li;
  };

  const big = await layer('big', P.big, true);
  const wh10k = await layer('wh10k', P.wh10k, false);

  const img = await cached(inputsDir, 'image', { seed: o.seed, image: P.image, corpus: P.corpus }, async (tmp) => {
    const irng = rng.fork('image');
    /** @type {Map<string, Spec>} */
    const state = new Map();
    const layout = path.join(tmp, 'oci');
    const blobDir = path.join(layout, 'blobs', 'sha256');
    fs.mkdirSync(blobDir, { recursive: true });
    /** @type {{digest: string, size: number, diffID: string}[]} */
    const layers = [];
    const counts = [];
    let tarBytes = 0;
    for (let i = 0; i < P.image.layers; i++) {
      const mtime = 1660000000 + i * 86400 * 30;
      const specs = i === 0 ? planBase(irng.fork('l0'), P.image.base) : planUpper(irng.fork(`l${i}`), state, P.image.upper, mtime);
      applyLayer(state, specs);
      counts.push(countTypes(specs));
      const tree = path.join(tmp, `tree${i}`);
      materialize(specs, tree, getCorpus());
      const t = path.join(tmp, `layer${i}.tar`);
      gnuTar(tree, t);
      fs.rmSync(tree, { recursive: true, force: true });
      const g = `${t}.gz`;
      gzip(t, g);
      const diffID = await sha256File(t);
      const digest = await sha256File(g);
      tarBytes += fs.statSync(t).size;
      fs.renameSync(g, path.join(blobDir, digest));
      fs.rmSync(t);
      layers.push({ digest, size: fs.statSync(path.join(blobDir, digest)).size, diffID });
    }
    /** @param {unknown} v */
    const putJson = (v) => {
      const b = Buffer.from(JSON.stringify(v));
      const d = crypto.createHash('sha256').update(b).digest('hex');
      fs.writeFileSync(path.join(blobDir, d), b);
      return { digest: `sha256:${d}`, size: b.length };
    };
    const config = putJson({
      created: '2022-12-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], WorkingDir: '/' },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${l.diffID}`) },
      history: layers.map((_, i) => ({ created: new Date((1660000000 + i * 86400 * 30) * 1000).toISOString(), created_by: i === 0 ? '/bin/sh -c #(nop) ADD file:base in /' : `/bin/sh -c bench-layer-${i} # adds, modifies, deletes, opaque dirs` })),
    });
    const manifest = putJson({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${l.digest}`, size: l.size })),
    });
    fs.writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    fs.writeFileSync(
      path.join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }),
    );
    // What the flattened rootfs must hold (a hardlink is just a file there).
    const expected = [...state.values()].map((s) => [s.path, s.type === 'hardlink' ? 'file' : s.type]).sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : 1));
    fs.writeFileSync(path.join(tmp, 'expected.json'), JSON.stringify(expected));
    return { counts, blobs: layers.map((l) => l.digest), tarBytes };
  });
  const blobs = /** @type {string[]} */ (img.meta.blobs).map((d) => path.join(img.dir, 'oci', 'blobs', 'sha256', d));
  /** @type {ImageInput} */
  const image = {
    layout: path.join(img.dir, 'oci'),
    blobs,
    expected: path.join(img.dir, 'expected.json'),
    counts: img.meta.counts,
    tarBytes: img.meta.tarBytes,
    gzBytes: blobs.reduce((a, b) => a + fs.statSync(b).size, 0),
    cached: img.cached,
  };
  return { big, wh10k, image, params: P };
}
