/**
 * Broken and hostile images fail with one clear line, before anything below
 * the broken part is trusted: a corrupt or resized blob, a missing blob, a
 * diffID that does not match, an unknown media type, an ambiguous or absent
 * platform, several images without --ref, and digests that are not digests.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WhiteoutError } from '../../src/errors.js';
import { parseDigest } from '../../src/image/digest.js';
import { openImage } from '../../src/image/image.js';
import { flattenToDir } from '../../src/rootfs/flatten.js';
import { blobFile, makeTar, readBlobJson, readIndex, rmrf, tempDir, writeIndex, writeLayout } from './helpers.js';

let tmp: string;
beforeEach(() => {
  tmp = tempDir();
});
afterEach(() => rmrf(tmp));

async function twoLayerImage(dir: string, extra: Partial<Parameters<typeof writeLayout>[1][number]> = {}): Promise<void> {
  writeLayout(dir, [
    {
      layers: [{ tar: await makeTar([{ name: 'etc/hosts', content: 'base' }]), gzip: true }, { tar: await makeTar([{ name: 'etc/.wh.hosts' }, { name: 'app', content: 'x' }]) }],
      ...extra,
    },
  ]);
}

interface Manifest {
  config: { digest: string; size: number };
  layers: { digest: string; size: number; mediaType: string }[];
}

function manifestOf(dir: string): { digest: string; m: Manifest } {
  const digest = readIndex(dir).manifests[0]!.digest;
  return { digest, m: readBlobJson<Manifest>(dir, digest) };
}

/** Rewrite the manifest (storing it under its new digest) and point index.json at it. */
async function editManifest(dir: string, edit: (m: Manifest) => void): Promise<void> {
  const { createHash } = await import('node:crypto');
  const { m } = manifestOf(dir);
  edit(m);
  const data = Buffer.from(JSON.stringify(m));
  const hex = createHash('sha256').update(data).digest('hex');
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), data);
  const index = readIndex(dir);
  index.manifests[0] = { ...index.manifests[0]!, digest: `sha256:${hex}`, size: data.length };
  writeIndex(dir, index);
}

async function flattenFails(dir: string, pattern: RegExp, opts = {}): Promise<WhiteoutError> {
  const out = path.join(tmp, 'rootfs');
  let caught: unknown;
  try {
    const image = await openImage([dir], opts);
    try {
      await flattenToDir(image.layers, out, { progress: false });
    } finally {
      await image.close();
    }
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(WhiteoutError);
  const e = caught as WhiteoutError;
  expect(`${e.what}: ${e.why}`).toMatch(pattern);
  expect(`${e.what}: ${e.why}`).not.toContain('\n');
  // Nothing half-written is left behind.
  expect(fs.existsSync(out)).toBe(false);
  return e;
}

describe('blobs are checked while they stream', () => {
  it('a corrupt layer blob: digest mismatch', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    const blob = blobFile(dir, manifestOf(dir).m.layers[1]!.digest);
    const b = fs.readFileSync(blob);
    b[600] = b[600]! ^ 0xff; // inside the second header's data area, keeps the size
    fs.writeFileSync(blob, b);
    await flattenFails(dir, /layer 1 .*blob: digest mismatch: expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}/);
  });

  it('a corrupt gzip layer: the gzip error or the digest, never silent', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    const blob = blobFile(dir, manifestOf(dir).m.layers[0]!.digest);
    const b = fs.readFileSync(blob);
    b[b.length - 6] = b[b.length - 6]! ^ 0xff; // in the gzip trailer's CRC
    fs.writeFileSync(blob, b);
    await flattenFails(dir, /layer 0.*(gzip|digest mismatch)/);
  });

  it('a blob longer than its descriptor says', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    await editManifest(dir, (m) => {
      m.layers[1]!.size -= 1;
    });
    await flattenFails(dir, /layer 1 .*blob: is larger than the \d+ bytes its descriptor says/);
  });

  it('a blob shorter than its descriptor says', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    await editManifest(dir, (m) => {
      m.layers[1]!.size += 1;
    });
    await flattenFails(dir, /layer 1 .*blob: is \d+ bytes, but its descriptor says \d+/);
  });

  it('a layer whose uncompressed content does not match its diffID', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir, {
      config: (c) => {
        (c.rootfs as { diff_ids: string[] }).diff_ids[1] = `sha256:${'0'.repeat(64)}`;
      },
    });
    await flattenFails(dir, /layer 1 \(sha256:000000000000\): diffID mismatch/);
  });

  it('a missing blob', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    fs.rmSync(blobFile(dir, manifestOf(dir).m.layers[0]!.digest));
    await flattenFails(dir, /blob sha256:[0-9a-f]{64} of layer 0 is missing/);
  });

  it('a missing config', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    fs.rmSync(blobFile(dir, manifestOf(dir).m.config.digest));
    await flattenFails(dir, /config sha256:[0-9a-f]{64} \('blobs\/sha256\/[0-9a-f]{64}'\) is missing/);
  });
});

describe('documents', () => {
  it('an unknown layer media type', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    await editManifest(dir, (m) => {
      m.layers[0]!.mediaType = 'application/vnd.example.squashfs';
    });
    await flattenFails(dir, /layers\[0\]: unknown layer media type 'application\/vnd.example.squashfs'/);
  });

  it('every accepted layer media type reads', async () => {
    for (const mediaType of [
      'application/vnd.oci.image.layer.nondistributable.v1.tar',
      'application/vnd.docker.image.rootfs.diff.tar.gzip',
      'application/vnd.oci.image.layer.v1.tar+zstd', // content wins: this one is plain
    ]) {
      const dir = path.join(tmp, `oci-${mediaType.length}`);
      writeLayout(dir, [{ layers: [{ tar: await makeTar([{ name: 'a', content: 'x' }]), mediaType }] }]);
      const image = await openImage([dir]);
      await flattenToDir(image.layers, path.join(tmp, `out-${mediaType.length}`), { progress: false });
      await image.close();
    }
  });

  it("a digest that is not one: 'sha256:../../x' never reaches the file system", async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    const index = readIndex(dir);
    index.manifests[0]!.digest = 'sha256:../../../etc/passwd';
    writeIndex(dir, index);
    await flattenFails(dir, /malformed digest "sha256:..\/..\/..\/etc\/passwd"/);
    expect(() => parseDigest('sha256:../../x', 'test')).toThrow(/malformed digest/);
    expect(() => parseDigest(`sha256:${'A'.repeat(64)}`, 'test')).toThrow(/lowercase hex/);
    expect(() => parseDigest(`md5:${'a'.repeat(32)}`, 'test')).toThrow(/unsupported or malformed digest/);
    expect(parseDigest(`sha256:${'a'.repeat(64)}`, 'test').hex).toBe('a'.repeat(64));
  });

  it('a document that is both an index and a manifest is refused (CVE-2021-41190)', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir);
    await editManifest(dir, (m) => {
      (m as unknown as Record<string, unknown>).manifests = [];
    });
    const index = readIndex(dir);
    delete index.manifests[0]!.mediaType;
    writeIndex(dir, index);
    await flattenFails(dir, /has both manifests and layers: ambiguous, refused/);
  });

  it('config diffIDs that do not add up to the layers', async () => {
    const dir = path.join(tmp, 'oci');
    await twoLayerImage(dir, {
      config: (c) => {
        (c.rootfs as { diff_ids: string[] }).diff_ids.pop();
      },
    });
    await flattenFails(dir, /the config lists 1 diffIDs but the manifest 2 layers/);
  });

  it('a manifest.json path that leaves the archive', async () => {
    const dir = path.join(tmp, 'save');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: '../../etc/passwd', Layers: [] }]));
    await flattenFails(dir, /has a '\.\.' component/);
  });
});

describe('choosing an image', () => {
  const platforms = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
  ];

  async function multiPlatform(dir: string, list = platforms): Promise<void> {
    const images = [];
    for (const p of list) images.push({ platform: p, layers: [{ tar: await makeTar([{ name: 'arch', content: `${p.architecture}${p.variant ?? ''}` }]) }] });
    writeLayout(dir, images);
  }

  async function archOf(dir: string, opts: { platform?: string; ref?: string }): Promise<string> {
    const image = await openImage([dir], opts);
    const out = path.join(tmp, `out-${Math.random()}`);
    await flattenToDir(image.layers, out, { progress: false });
    await image.close();
    return fs.readFileSync(path.join(out, 'arch'), 'utf8');
  }

  it('--platform picks one of a multi-platform index', async () => {
    const dir = path.join(tmp, 'multi');
    await multiPlatform(dir);
    expect(await archOf(dir, { platform: 'linux/arm64' })).toBe('arm64v8');
    expect(await archOf(dir, { platform: 'linux/arm/v7' })).toBe('armv7');
    expect(await archOf(dir, { platform: 'linux/amd64' })).toBe('amd64');
  });

  it('no match lists what there is', async () => {
    const dir = path.join(tmp, 'multi');
    await multiPlatform(dir);
    await flattenFails(dir, /no image for --platform linux\/s390x; it has: linux\/amd64, linux\/arm64\/v8, linux\/arm\/v7 \(choose with --platform\)/, { platform: 'linux/s390x' });
  });

  it('an ambiguous platform fails and lists the platforms', async () => {
    const dir = path.join(tmp, 'twice');
    await multiPlatform(dir, [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ]);
    await flattenFails(dir, /2 images match --platform linux\/amd64: linux\/amd64, linux\/amd64, linux\/arm64\/v8/, { platform: 'linux/amd64' });
  });

  it('a malformed --platform is a usage error', async () => {
    const dir = path.join(tmp, 'multi');
    await multiPlatform(dir);
    const e = await flattenFails(dir, /--platform: 'linux' is not os\/arch/, { platform: 'linux' });
    expect(e.code).toBe('usage');
  });

  it('several images need --ref; --ref picks one', async () => {
    const dir = path.join(tmp, 'refs');
    writeLayout(dir, [
      { ref: 'v1', layers: [{ tar: await makeTar([{ name: 'arch', content: 'one' }]) }] },
      { ref: 'v2', layers: [{ tar: await makeTar([{ name: 'arch', content: 'two' }]) }] },
    ]);
    await flattenFails(dir, /holds 2 images: v1, v2 \(choose with --ref\)/);
    expect(await archOf(dir, { ref: 'v2' })).toBe('two');
    await flattenFails(dir, /no image named 'v3'; it has: v1, v2/, { ref: 'v3' });
  });
});
