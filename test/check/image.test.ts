/**
 * check of whole images: digests and diffIDs that do not match become
 * findings and the next layer is still checked; the image-level rules see
 * the layers below.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkInputs } from '../../src/check/check.js';
import { blobFile, readBlobJson, readIndex, rmrf, sha256, tempDir, writeLayout } from '../image/helpers.js';
import { dir, file, tar } from '../helpers/hostile-tar.js';
import { brief } from './helpers.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmrf(d);
});

function layout(layers: Buffer[], config?: (c: Record<string, unknown>) => void): { root: string; layerDigests: string[] } {
  const root = tempDir('whiteout-check-');
  dirs.push(root);
  writeLayout(root, [{ layers: layers.map((t) => ({ tar: t })), ...(config ? { config } : {}) }]);
  const m = readBlobJson<{ layers: { digest: string }[] }>(root, readIndex(root).manifests[0]!.digest);
  return { root, layerDigests: m.layers.map((l) => l.digest) };
}

describe('check: images', () => {
  it('a clean image has no findings; its layers are listed with their digests', async () => {
    const base = tar(dir('etc/'), file('etc/a'), file('etc/b'));
    const { root } = layout([base, tar(dir('etc/'), file('etc/.wh.a'))]);
    const r = await checkInputs([root]);
    expect(r.findings).toEqual([]);
    expect(r).toMatchObject({ target: 'image', format: 'oci-layout', errors: 0, warnings: 0 });
    expect(r.layers[0]).toMatchObject({ index: 0, diffID: `sha256:${sha256(base)}`, computedDiffID: `sha256:${sha256(base)}`, complete: true });
  });

  it('digest-mismatch: a blob changed after the manifest was written; the next layer is still checked', async () => {
    const { root, layerDigests } = layout([tar(file('a', 'hello')), tar(file('/abs'))]);
    const blob = blobFile(root, layerDigests[0]!);
    const b = fs.readFileSync(blob);
    b[512] = 'j'.charCodeAt(0); // the content: still a valid tar
    fs.chmodSync(blob, 0o644);
    fs.writeFileSync(blob, b);
    const r = await checkInputs([root]);
    expect(brief(r.findings)).toEqual([
      { rule: 'digest-mismatch', layer: 0, severity: 'error' },
      { rule: 'absolute-name', layer: 1, entry: '/abs', severity: 'error' },
    ]);
    expect(r.findings[0]!.diffID).toMatch(/^sha256:/);
  });

  it("diffid-mismatch: a layer that is not the config's diffID", async () => {
    const { root } = layout([tar(file('a')), tar(file('b'))], (c) => {
      (c.rootfs as { diff_ids: string[] }).diff_ids[1] = `sha256:${'0'.repeat(64)}`;
    });
    const r = await checkInputs([root]);
    expect(brief(r.findings)).toEqual([{ rule: 'diffid-mismatch', layer: 1, severity: 'error' }]);
  });

  it('digest-mismatch is reported, first, as the cause when the damage also breaks the tar', async () => {
    const { root, layerDigests } = layout([tar(file('a', 'hello'))]);
    const blob = blobFile(root, layerDigests[0]!);
    const b = fs.readFileSync(blob);
    b[100] ^= 1; // the mode field: the header checksum fails
    fs.chmodSync(blob, 0o644);
    fs.writeFileSync(blob, b);
    const r = await checkInputs([root]);
    expect(r.findings.map((f) => f.rule)).toEqual(['digest-mismatch', 'bad-tar']); // whole-layer findings first
  });

  it('image-invalid: config and manifest disagree on the layer count; the layers are still checked', async () => {
    const { root } = layout([tar(file('../x'))], (c) => {
      (c.rootfs as { diff_ids: string[] }).diff_ids.push(`sha256:${'1'.repeat(64)}`);
    });
    const r = await checkInputs([root]);
    expect(brief(r.findings)).toEqual([
      { rule: 'image-invalid', severity: 'error' },
      { rule: 'dotdot-name', layer: 0, entry: '/../x', severity: 'error' },
    ]);
  });

  it('image-invalid: an image that cannot be read at all', async () => {
    const root = tempDir('whiteout-check-');
    dirs.push(root);
    fs.writeFileSync(path.join(root, 'index.json'), '{"schemaVersion": 2, "manifests": [');
    const r = await checkInputs([root]);
    expect(brief(r.findings)).toEqual([{ rule: 'image-invalid', severity: 'error' }]);
  });

  it('the image-level rules run across the layers of an image', async () => {
    const { root } = layout([tar(dir('a/'), file('a/x')), tar(file('.wh.b'), dir('a/'), file('a/.wh..wh..opq'), dir('n/'), file('n/.wh..wh..opq'))]);
    const r = await checkInputs([root]);
    expect(brief(r.findings)).toEqual([
      { rule: 'whiteout-hides-nothing', layer: 1, entry: '/.wh.b', severity: 'warning' },
      { rule: 'opaque-hides-nothing', layer: 1, entry: '/n/.wh..wh..opq', severity: 'info' },
    ]);
  });

  it('a single layer tar: no image-level rules (its lowers are unknown); two are a stack', async () => {
    const d = tempDir('whiteout-check-');
    dirs.push(d);
    const a = path.join(d, 'a.tar');
    const b = path.join(d, 'b.tar');
    fs.writeFileSync(a, tar(file('x')));
    fs.writeFileSync(b, tar(file('.wh.y')));
    expect((await checkInputs([b])).findings).toEqual([]);
    const r = await checkInputs([a, b]);
    expect(r.target).toBe('layers');
    expect(brief(r.findings)).toEqual([{ rule: 'whiteout-hides-nothing', layer: 1, entry: '/.wh.y', severity: 'warning' }]);
  });
});
