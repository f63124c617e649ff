/**
 * Every real image flattens to the tree `umoci unpack` makes of it, file by
 * file: type, mode, owner, mtime, content, link target, hardlinks, xattrs.
 * skopeo turns each archive into an OCI layout for umoci first. (umoci 0.4
 * cannot read zstd layers: the zstd image is compared with umoci's unpack of
 * the gzip one, which has the same layer.)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareSnapshots, formatDifferences, snapshotDir, snapshotTar } from '../../src/conformance/index.js';
import { openImage } from '../../src/image/image.js';
import { flattenToDir, flattenToTarFile } from '../../src/rootfs/flatten.js';
import { bytes } from '../rootfs/helpers.js';
import { fixtures, hasRealImages, realImages, rmrf, tempDir, which, writeLayout } from './helpers.js';

const tools = which('umoci') && which('skopeo');
const root = process.getuid?.() === 0;
if (!hasRealImages) console.warn(`SKIPPED: real images: ${realImages} is not there`);
if (!tools) console.warn('SKIPPED: comparison with umoci: umoci or skopeo is not installed');
if (!root) console.warn('SKIPPED: comparison with umoci: owners differ when not root (umoci --rootless)');

const tmp = tempDir();
afterAll(() => rmrf(tmp));

interface Case {
  file: string;
  transport: 'docker-archive' | 'oci-archive';
  platform?: string;
  /** Compare with umoci's unpack of this other case. */
  sameAs?: string;
}

const cases: Case[] = [
  { file: 'dive/test-docker-image.tar', transport: 'docker-archive' },
  { file: 'go-containerregistry/whiteout_image.tar', transport: 'docker-archive' },
  { file: 'go-containerregistry/whiteout_dir.tar', transport: 'docker-archive' },
  { file: 'go-containerregistry/hello-world-v25.tar', transport: 'docker-archive' },
  { file: 'dive/test-oci-uncompressed-image.tar', transport: 'oci-archive', platform: 'linux/arm64' },
  { file: 'dive/test-oci-gzip-image.tar', transport: 'oci-archive', platform: 'linux/arm64' },
  { file: 'dive/test-oci-zstd-image.tar', transport: 'oci-archive', platform: 'linux/arm64', sameAs: 'dive/test-oci-gzip-image.tar' },
];

const umociRootfs = new Map<string, string>();

function umociUnpack(c: Case): string {
  const known = umociRootfs.get(c.file);
  if (known) return known;
  const name = path.basename(c.file, '.tar');
  const layout = path.join(tmp, `${name}-oci`);
  const bundle = path.join(tmp, `${name}-bundle`);
  const arch = c.platform ? ['--override-arch', c.platform.split('/')[1] as string] : [];
  execFileSync('skopeo', ['copy', '-q', ...arch, `${c.transport}:${path.join(realImages, c.file)}`, `oci:${layout}:t`]);
  execFileSync('umoci', ['unpack', '--image', `${layout}:t`, bundle], { stdio: 'ignore' });
  const rootfs = path.join(bundle, 'rootfs');
  umociRootfs.set(c.file, rootfs);
  return rootfs;
}

describe.runIf(hasRealImages && tools && root)('flatten = umoci unpack (real images)', () => {
  for (const c of cases) {
    it(c.file, async () => {
      const theirs = await snapshotDir(umociUnpack(cases.find((x) => x.file === (c.sameAs ?? c.file)) as Case));
      const image = await openImage([path.join(realImages, c.file)], c.platform ? { platform: c.platform } : {});
      try {
        const name = path.basename(c.file, '.tar');
        const dir = path.join(tmp, `${name}-flat`);
        const tar = path.join(tmp, `${name}-flat.tar`);
        await flattenToDir(image.layers, dir, { progress: false });
        await flattenToTarFile(image.layers, tar, { progress: false });
        const d1 = compareSnapshots(theirs, await snapshotDir(dir), ['umoci', 'flatten dir']);
        expect(formatDifferences(d1)).toBe('');
        const d2 = compareSnapshots(theirs, await snapshotTar(bytes(fs.readFileSync(tar))), ['umoci', 'flatten tar']);
        expect(formatDifferences(d2)).toBe('');
      } finally {
        await image.close();
      }
    }, 120_000);
  }
});

/** Layer files from real-images, stacked bottom first: umoci gets them as an OCI layout written here. */
const stacks: string[][] = [
  ['regclient/layer.tar', 'regclient/layer-wh.tar'],
  ['container-diff/la-croix1.tar', 'container-diff/la-croix2.tar', 'container-diff/la-croix-wh.tar'],
  ['trivy/test.tar'],
  ['claircore/whiteout.layer'],
  ['claircore/whiteout_opaque.layer'],
  ['moby/layer.tar'],
];

describe.runIf(hasRealImages && tools && root)('flatten = umoci unpack (real layer files, stacked)', () => {
  for (const files of stacks) {
    it(files.join(' + '), async () => {
      const name = files.join('+').replace(/[/.]/g, '_');
      const layout = path.join(tmp, `${name}-oci`);
      writeLayout(layout, [{ ref: 't', layers: files.map((f) => ({ tar: fs.readFileSync(path.join(realImages, f)) })) }]);
      const bundle = path.join(tmp, `${name}-bundle`);
      execFileSync('umoci', ['unpack', '--image', `${layout}:t`, bundle], { stdio: 'ignore' });
      const theirs = await snapshotDir(path.join(bundle, 'rootfs'));
      const image = await openImage(files.map((f) => path.join(realImages, f)));
      try {
        const dir = path.join(tmp, `${name}-flat`);
        await flattenToDir(image.layers, dir, { progress: false });
        expect(formatDifferences(compareSnapshots(theirs, await snapshotDir(dir), ['umoci', 'flatten dir']))).toBe('');
      } finally {
        await image.close();
      }
    });
  }
});

describe('fixtures/example = fixtures/umoci/rootfs.tar (umoci unpack, captured)', () => {
  for (const input of ['oci', 'docker-archive.tar']) {
    it(input, async () => {
      const theirs = await snapshotTar(bytes(fs.readFileSync(path.join(fixtures, 'umoci', 'rootfs.tar'))));
      const image = await openImage([path.join(fixtures, 'example', input)]);
      try {
        const tar = path.join(tmp, `example-${input}.tar`);
        await flattenToTarFile(image.layers, tar, { progress: false });
        expect(formatDifferences(compareSnapshots(theirs, await snapshotTar(bytes(fs.readFileSync(tar))), ['umoci', 'flatten tar']))).toBe('');
        if (root) {
          const dir = path.join(tmp, `example-${input}`);
          await flattenToDir(image.layers, dir, { progress: false });
          expect(formatDifferences(compareSnapshots(theirs, await snapshotDir(dir), ['umoci', 'flatten dir']))).toBe('');
        }
      } finally {
        await image.close();
      }
    });
  }
});
