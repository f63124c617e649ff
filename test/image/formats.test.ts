/**
 * Every input format is recognised from its content, not its name, and read
 * to the same layers: OCI layout (directory and tar), docker save (legacy and
 * Docker 25+), skopeo's docker-archive, the kaniko/crane tarball, a gzipped
 * docker save, plain layer tars, and standard input.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openImage } from '../../src/image/image.js';
import { classifyInput, isImageMember } from '../../src/image/input.js';
import { fixtures, hasRealImages, realImages, rmrf, sha256, tarDir, tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => rmrf(tmp));

const exampleDiffIDs = [
  'sha256:19f189e08e4e7c7d33225a70b1329f21973da798bd25c7980464d12e05b38425',
  'sha256:bdd3cd5e0f8ec5b8eb33af2cf1cac0109f21146fd8687cc161684252f8f2dd71',
  'sha256:109785600636fa934ad0e11af5f546a9e806c426534ab9347db02716502469a8',
  'sha256:5d2aba201a50ccfa93e9b0ae9b628d7760c8f79778849f559fb3c4c44b197cf8',
  'sha256:f76998148bdc06fa37d59fb0877c66b8dbc46fa11e52d97610e0035dac998ae5',
  'sha256:d7afbe33f0674b94ce181263b2f234f6d267616d1d01b585f460dba6a898296e',
];

/** Read every layer to the end (each is verified as it streams). */
async function readAll(inputs: string[], opts = {}): Promise<{ format: string; diffIDs: string[]; sizes: number[] }> {
  const image = await openImage(inputs, opts);
  try {
    const diffIDs: string[] = [];
    const sizes: number[] = [];
    for (const l of image.layers) {
      let measured = { digest: '', size: 0 };
      for await (const _ of l.open({ onTar: (m) => (measured = m) })) {
        // drain
      }
      diffIDs.push(measured.digest);
      sizes.push(measured.size);
      if (l.diffID) expect(measured.digest).toBe(l.diffID);
    }
    return { format: image.format, diffIDs, sizes };
  } finally {
    await image.close();
  }
}

describe('fixtures/example in every packaging', () => {
  it('OCI layout directory', async () => {
    const r = await readAll([path.join(fixtures, 'example', 'oci')]);
    expect(r).toMatchObject({ format: 'oci-layout', diffIDs: exampleDiffIDs });
  });

  it('OCI layout packed in a tar, under a name that says nothing', async () => {
    const file = path.join(tmp, 'no-extension');
    tarDir(path.join(fixtures, 'example', 'oci'), file);
    const r = await readAll([file]);
    expect(r).toMatchObject({ format: 'oci-layout', diffIDs: exampleDiffIDs });
  });

  it('docker save made by skopeo (layer.tar symlinks to <diffid>.tar)', async () => {
    const r = await readAll([path.join(fixtures, 'example', 'docker-archive.tar')]);
    expect(r).toMatchObject({ format: 'docker-archive', diffIDs: exampleDiffIDs });
  });

  it('docker save, gzip-compressed (docker save | gzip)', async () => {
    const file = path.join(tmp, 'image.tar.gz');
    fs.writeFileSync(file, execFileSync('gzip', ['-c', path.join(fixtures, 'example', 'docker-archive.tar')]));
    const r = await readAll([file]);
    expect(r).toMatchObject({ format: 'docker-archive', diffIDs: exampleDiffIDs });
  });

  it('docker save unpacked into a directory', async () => {
    const dir = path.join(tmp, 'unpacked-save');
    fs.mkdirSync(dir);
    execFileSync('tar', ['-C', dir, '-xf', path.join(fixtures, 'example', 'docker-archive.tar')]);
    const r = await readAll([dir]);
    expect(r).toMatchObject({ format: 'docker-archive', diffIDs: exampleDiffIDs });
  });

  it('plain layer blobs, bottom first (gzip, detected from the bytes)', async () => {
    const oci = path.join(fixtures, 'example', 'oci');
    const index = JSON.parse(fs.readFileSync(path.join(oci, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
    const blob = (d: string) => path.join(oci, 'blobs', 'sha256', d.slice('sha256:'.length));
    const manifest = JSON.parse(fs.readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as { layers: { digest: string }[] };
    const r = await readAll(manifest.layers.map((l) => blob(l.digest)));
    expect(r).toMatchObject({ format: 'layers', diffIDs: exampleDiffIDs });
  });
});

describe.runIf(hasRealImages)('real archives (../shared/real-images)', () => {
  it('docker save, legacy layout (dive)', async () => {
    const r = await readAll([path.join(realImages, 'dive', 'test-docker-image.tar')]);
    expect(r.format).toBe('docker-archive');
    expect(r.diffIDs).toHaveLength(14);
  });

  it('docker save from Docker 25+ (OCI layout + manifest.json, empty index)', async () => {
    const r = await readAll([path.join(realImages, 'go-containerregistry', 'hello-world-v25.tar')]);
    expect(r).toMatchObject({ format: 'docker-archive', diffIDs: ['sha256:12660636fe55438cc3ae7424da7ac56e845cdb52493ff9cf949c47a7f57f8b43'] });
  });

  it('kaniko/crane tarball (config named sha256:…, <digest>.tar.gz layers)', async () => {
    const r = await readAll([path.join(realImages, 'go-containerregistry', 'whiteout_dir.tar')]);
    expect(r.format).toBe('docker-archive');
    expect(r.diffIDs).toHaveLength(4);
  });

  it('bazel docker save with an all-zero layer', async () => {
    const r = await readAll([path.join(realImages, 'go-containerregistry', 'whiteout_image.tar')]);
    expect(r.diffIDs).toHaveLength(3);
    expect(r.sizes[2]).toBe(10240);
  });

  it('OCI layout tars with tar, tar+gzip and tar+zstd layers give the same layer', async () => {
    const ids = new Set<string>();
    for (const kind of ['uncompressed', 'gzip', 'zstd']) {
      const r = await readAll([path.join(realImages, 'dive', `test-oci-${kind}-image.tar`)], { platform: 'linux/arm64' });
      expect(r.format).toBe('oci-layout');
      ids.add(r.diffIDs[0]!);
    }
    expect([...ids]).toEqual(['sha256:356d5e7f4012d87cb1078ac1f480e90528eec4940ce45c50380321436db38758']);
  });

  it('single layers are layers, whatever their names', async () => {
    for (const f of ['claircore/whiteout.layer', 'trivy/test.tar', 'moby/layer.tar', 'regclient/layer-wh.tar']) {
      const input = await classifyInput(path.join(realImages, f));
      expect(input.kind, f).toBe('layer');
      if (input.kind === 'layer') await input.close();
    }
  });
});

describe('detection', () => {
  it('image member names', () => {
    for (const n of ['manifest.json', 'index.json', 'oci-layout', 'repositories', 'blobs/sha256/abc', `${'a'.repeat(64)}/layer.tar`, `${'b'.repeat(64)}.json`, `sha256:${'c'.repeat(64)}`, `${'d'.repeat(64)}.tar.gz`, '']) {
      expect(isImageMember(n), n).toBe(true);
    }
    for (const n of ['etc/passwd', 'bin', 'manifest.json/x', 'README.md', `${'a'.repeat(63)}.json`]) expect(isImageMember(n), n).toBe(false);
  });

  it('a layer that happens to hold a manifest.json among other files is a layer', async () => {
    const { makeTar } = await import('./helpers.js');
    const file = path.join(tmp, 'layer-with-manifest.tar');
    fs.writeFileSync(file, await makeTar([{ name: 'manifest.json', content: '[]' }, { name: 'etc/hosts', content: 'x' }]));
    const input = await classifyInput(file);
    expect(input.kind).toBe('layer');
  });

  it('an empty layer (only the end-of-archive blocks) is a layer', async () => {
    const file = path.join(tmp, 'empty.tar');
    fs.writeFileSync(file, Buffer.alloc(10240));
    const input = await classifyInput(file);
    expect(input.kind).toBe('layer');
    expect(sha256(fs.readFileSync(file))).toHaveLength(64);
  });

  it('a directory that is no layout is refused', async () => {
    await expect(openImage([tmp])).rejects.toThrow(/not an image layout/);
  });

  it('an image and layers together are refused', async () => {
    await expect(openImage([path.join(fixtures, 'example', 'oci'), path.join(fixtures, 'example', 'docker-archive.tar')])).rejects.toThrow(/give one image/);
  });
});
