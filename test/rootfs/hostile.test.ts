/**
 * sarus/saved_image_malicious.tar, a hostile `docker save`: layer 0 makes
 * `malicious-symlink -> /tmp`, layer 1 writes through it, layer 2 uses an
 * absolute path, layer 3 a `../` path. Nothing may land outside the target;
 * what flatten does make must be the overlay's view (the symlink replaced by
 * a directory), and where it fails it fails with one line.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareSnapshots, formatDifferences, kernelOverlayAvailable, snapshotKernelMount } from '../../src/conformance/index.js';
import { WhiteoutError } from '../../src/errors.js';
import { openImage } from '../../src/image/image.js';
import { unpackImage } from '../../src/image/unpack.js';
import { flattenToDir } from '../../src/rootfs/flatten.js';
import { hasRealImages, realImages } from '../image/helpers.js';
import { unpackAll } from '../properties/harness.js';
import { flattenDirSnapshot, flattenTarSnapshot, rmrf, tempBase } from './helpers.js';

const archive = path.join(realImages, 'sarus', 'saved_image_malicious.tar');
const planted = ['/tmp/malicious-file-through-symlink', '/tmp/malicious-file-through-abs-path', '/tmp/malicious-file-through-dotdots'];
const layerIds = [
  '9b9fed2f921883f235781af247806b2b0933236d09d1f0f5d48deb72acc6e554',
  'eec0f3dd64095860118d06a5b682d96ca7d10ed1c78e889b409198b937fb8676',
  'e73f6de8f1a05757088ad8946e2e272513dd97848ec9c6c97a255b2c1de162e8',
  'b8cea2585a5c43f8ace457eff93745c2ce3a9410f337329f9eb7fe8136b0bc35',
];

const base = tempBase('whiteout-hostile-');
afterAll(() => rmrf(base));
const before = new Map(planted.map((p) => [p, fs.existsSync(p)]));

function nothingPlanted(): void {
  for (const p of planted) if (!before.get(p)) expect(fs.existsSync(p), p).toBe(false);
}

/** The layer tars, taken out of the archive with GNU tar (only these members). */
function layerFiles(): string[] {
  const dir = path.join(base, 'layers');
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('tar', ['-C', dir, '-xf', archive, ...layerIds.map((id) => `${id}/layer.tar`)]);
  return layerIds.map((id) => path.join(dir, id, 'layer.tar'));
}

function oneLine(e: unknown): string {
  expect(e).toBeInstanceOf(WhiteoutError);
  const line = `${(e as WhiteoutError).what}: ${(e as WhiteoutError).why}`;
  expect(line).not.toContain('\n');
  return line;
}

describe.runIf(hasRealImages)('a hostile docker save', () => {
  it('flatten of the image fails cleanly before writing anything', async () => {
    const out = path.join(base, 'image-rootfs');
    const e = await openImage([archive]).then(
      async (image) => {
        try {
          await flattenToDir(image.layers, out, { progress: false });
        } finally {
          await image.close();
        }
      },
      (x: unknown) => x,
    );
    expect(oneLine(e)).toMatch(/the config lists 10 diffIDs but the manifest 9 layers/);
    expect(fs.existsSync(out)).toBe(false);
    nothingPlanted();
  });

  it('unpack of the image fails cleanly too', async () => {
    const e = await openImage([archive]).then(
      (image) => unpackImage(image, path.join(base, 'stack'), { progress: false }).finally(() => image.close()),
      (x: unknown) => x,
    );
    expect(oneLine(e)).toMatch(/diffIDs/);
    nothingPlanted();
  });

  it('layers 0–2: the symlink is replaced by a directory, the absolute path lands inside', async () => {
    const files = layerFiles().slice(0, 3);
    const image = await openImage(files);
    try {
      const { snap: tar } = await flattenTarSnapshot(image.layers, base);
      const dir = await flattenDirSnapshot(image.layers, base);
      for (const s of [tar, dir]) {
        expect([...s.nodes.keys()].sort()).toEqual(['', 'malicious-symlink', 'malicious-symlink/malicious-file-through-symlink', 'tmp', 'tmp/malicious-file-through-abs-path']);
        expect(s.nodes.get('malicious-symlink')?.type).toBe('dir');
      }
      expect(formatDifferences(compareSnapshots(tar, dir, ['tar', 'dir']))).toBe('');
      const kernel = await kernelOverlayAvailable();
      if (kernel.ok) {
        const unpacked = path.join(base, 'unpacked');
        fs.mkdirSync(unpacked);
        const dirs = await unpackAll(files.map((f) => fs.readFileSync(f)), unpacked, { whiteouts: 'device', userxattr: false });
        expect(formatDifferences(compareSnapshots(await snapshotKernelMount(dirs), dir, ['kernel', 'flatten']))).toBe('');
      } else console.warn(`SKIPPED: hostile layers vs kernel: ${kernel.reason}`);
    } finally {
      await image.close();
    }
    nothingPlanted();
  });

  it('layers 0–3: the ../ name is refused with one line, and nothing is left', async () => {
    const image = await openImage(layerFiles());
    const out = path.join(base, 'with-dotdot');
    const e = await flattenToDir(image.layers, out, { progress: false }).then(
      () => undefined,
      (x: unknown) => x,
    );
    await image.close();
    expect(oneLine(e)).toMatch(/has a '\.\.' component/);
    expect(fs.existsSync(out)).toBe(false);
    nothingPlanted();
  });
});
