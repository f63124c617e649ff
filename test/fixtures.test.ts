/**
 * Against what real tools made (fixtures/README.md): buildah's layer blobs and
 * the diff directories containers/storage's overlay driver wrote for them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertToOci } from '../src/ops/convert.js';
import { packLayer } from '../src/ops/pack.js';
import { unpackLayer } from '../src/ops/unpack.js';
import { concat, isRoot, tempDir } from './helpers/entries.js';
import { listTar, semantic } from './helpers/listing.js';

const fixtures = path.join(import.meta.dirname, '..', 'fixtures');
const oci = path.join(fixtures, 'example', 'oci');

interface Manifest {
  layers: { digest: string; mediaType: string }[];
}
const index = JSON.parse(fs.readFileSync(path.join(oci, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
const blob = (d: string) => path.join(oci, 'blobs', 'sha256', d.replace(/^sha256:/, ''));
const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as Manifest;
const layers = manifest.layers.map((l) => blob(l.digest));

async function* fileSource(p: string): AsyncGenerator<Buffer> {
  yield fs.readFileSync(p);
}

const t = tempDir();
afterAll(() => t.cleanup());

describe('convert --to oci of the overlay driver’s diff dirs gives buildah’s layers', () => {
  for (const [i, layer] of layers.entries()) {
    it(`layer ${i}`, async () => {
      const ours = await concat(convertToOci(fileSource(path.join(fixtures, 'overlay-dirs', `${i}.tar`)), { name: `${i}.tar` }));
      const theirs = await listTar(fs.readFileSync(layer));
      expect(semantic(await listTar(ours), { dropRoot: true })).toEqual(semantic(theirs, { dropRoot: true }));
    });
  }
});

describe.runIf(isRoot)('unpack then pack gives buildah’s layers back (root: 0/0 devices)', () => {
  for (const [i, layer] of layers.entries()) {
    it(`layer ${i}`, async () => {
      const dir = path.join(t.dir, `rt-${i}`);
      const r = await unpackLayer(fileSource(layer), dir, { name: `layer ${i}` });
      const packed = packLayer(dir);
      const bytes = await concat(packed.stream);
      const theirs = await listTar(fs.readFileSync(layer));
      expect(semantic(await listTar(bytes))).toEqual(semantic(theirs, { dropRoot: true }));
      // The diffID unpack reports is the sha256 of the uncompressed blob.
      const gunzipped = execFileSync('gzip', ['-dc', layer]);
      const crypto = await import('node:crypto');
      expect(r.diffID).toBe(`sha256:${crypto.createHash('sha256').update(gunzipped).digest('hex')}`);
    });
  }
});

describe.runIf(isRoot)('unpack writes what the overlay driver wrote', () => {
  for (const [i, layer] of layers.entries()) {
    it(`layer ${i}`, async () => {
      const ours = path.join(t.dir, `cmp-${i}`);
      await unpackLayer(fileSource(layer), ours, { name: `layer ${i}` });
      const theirs = path.join(t.dir, `drv-${i}`);
      fs.mkdirSync(theirs);
      execFileSync('tar', ['--xattrs', "--xattrs-include=*", '--numeric-owner', '-xpf', path.join(fixtures, 'overlay-dirs', `${i}.tar`), '-C', theirs]);
      // Both as the overlay form in a tar, read independently; the root dir's own mode differs (the driver uses 0555).
      const tarOf = (d: string) => execFileSync('tar', ['--xattrs', "--xattrs-include=*", '--numeric-owner', '--sort=name', '--format=posix', '-C', d, '-cf', '-', '.']);
      const a = (await listTar(tarOf(ours))).filter((l) => l.name !== '');
      const b = (await listTar(tarOf(theirs))).filter((l) => l.name !== '');
      const view = (l: Awaited<ReturnType<typeof listTar>>) =>
        l.map((e) => `${e.name} ${e.type === 'link' ? 'char' : e.type} ${e.type === 'character-device' || e.type === 'link' ? '' : e.mode.toString(8)} ${e.devmajor}/${e.devminor} ${e.sha256.slice(0, 12)} ${JSON.stringify(e.xattrs)}`);
      expect(view(a)).toEqual(view(b));
    });
  }
});
