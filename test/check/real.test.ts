/**
 * Every real image and layer in ../shared/real-images, checked in place. The
 * expected findings were read off the tars with GNU tar (`tar -tvf`), not
 * taken from INDEX.md; README.md §check lists the same table.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkInputs } from '../../src/check/check.js';
import type { Finding } from '../../src/check/finding.js';
import { hasRealImages, realImages } from '../image/helpers.js';

/** `rule@layer` for each finding (`rule` alone when it is about the whole image), in report order. */
function summary(fs: readonly Finding[]): string[] {
  return fs.map((f) => `${f.rule}${f.layer !== undefined ? `@${f.layer}` : ''}`);
}

async function check(...files: string[]) {
  return checkInputs(files.map((f) => path.join(realImages, f)));
}

const CASES: { input: string[]; layers: number; findings: string[] }[] = [
  { input: ['dive/test-docker-image.tar'], layers: 14, findings: [] },
  { input: ['dive/test-oci-uncompressed-image.tar'], layers: 1, findings: [] },
  { input: ['dive/test-oci-gzip-image.tar'], layers: 1, findings: [] },
  { input: ['dive/test-oci-zstd-image.tar'], layers: 1, findings: [] },
  // L1 whites out ./foo.txt, which L0 has; L2 is an empty (all-zero) tar, which is legal.
  { input: ['go-containerregistry/whiteout_image.tar'], layers: 3, findings: [] },
  // `.wh.a` is a layer of its own (L2) and L3 makes a new `a`: no same-layer whiteout.
  { input: ['go-containerregistry/whiteout_dir.tar'], layers: 4, findings: [] },
  { input: ['go-containerregistry/hello-world-v25.tar'], layers: 1, findings: [] },
  // etc/.wh..wh..opq and foo/.wh.foo, alone: nothing to say without the layers below.
  { input: ['trivy/test.tar'], layers: 1, findings: [] },
  { input: ['claircore/whiteout.layer'], layers: 1, findings: [] },
  // b/not.a.wh..wh..opq is an ordinary file, not a marker.
  { input: ['claircore/whiteout_opaque.layer'], layers: 1, findings: [] },
  { input: ['regclient/layer.tar'], layers: 1, findings: [] },
  // .wh.layer2.txt comes after layer1.txt.
  { input: ['regclient/layer-wh.tar'], layers: 1, findings: ['whiteout-order@0'] },
  // As a stack: exdir/ is new in the upper layer, so its opaque marker hides nothing.
  { input: ['regclient/layer.tar', 'regclient/layer-wh.tar'], layers: 2, findings: ['whiteout-order@1', 'opaque-hides-nothing@1'] },
  { input: ['container-diff/la-croix1.tar'], layers: 1, findings: [] },
  { input: ['container-diff/la-croix2.tar'], layers: 1, findings: [] },
  // nest2/ comes first, then .wh.lime.txt and .wh.nest.
  { input: ['container-diff/la-croix-wh.tar'], layers: 1, findings: ['whiteout-order@0', 'whiteout-order@0'] },
  { input: ['container-diff/la-croix2.tar', 'container-diff/la-croix-wh.tar'], layers: 2, findings: ['whiteout-order@1', 'whiteout-order@1'] },
  { input: ['moby/layer.tar'], layers: 1, findings: [] },
  // The config lists 10 diffIDs for 9 layers; L0 plants `malicious-symlink -> /tmp`, L1 makes it a directory
  // and writes below it, L2 has /tmp/…, L3 has ../../…/tmp/….
  {
    input: ['sarus/saved_image_malicious.tar'],
    layers: 9,
    findings: ['image-invalid', 'dir-over-symlink@1', 'absolute-name@2', 'dotdot-name@3'],
  },
];

describe.skipIf(!hasRealImages)('check: every real image in ../shared/real-images', () => {
  for (const c of CASES) {
    it(c.input.join(' + '), async () => {
      const r = await check(...c.input);
      expect(summary(r.findings)).toEqual(c.findings);
      expect(r.layers).toHaveLength(c.layers);
      expect(r.layers.every((l) => l.complete)).toBe(true);
    });
  }

  it('covers every image and layer file there', () => {
    const files = fs
      .readdirSync(realImages, { recursive: true, encoding: 'utf8' })
      .filter((f) => /\.(tar|layer)$/.test(f))
      .sort();
    const covered = new Set(CASES.flatMap((c) => c.input));
    expect(files.filter((f) => !covered.has(f))).toEqual([]);
  });

  it('sarus: every finding names its entry', async () => {
    const r = await check('sarus/saved_image_malicious.tar');
    expect(r.findings.slice(1).map((f) => f.entry)).toEqual([
      '/malicious-symlink',
      '/tmp/malicious-file-through-abs-path',
      `/${'../'.repeat(21)}tmp/malicious-file-through-dotdots`,
    ]);
    expect(r.errors).toBe(3);
  });
});
