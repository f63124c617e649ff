/**
 * unpack of a whole image: layers in <dir>/layers/<diffID hex>, reused when
 * there, a mount line and mount.sh that mount them; and what the kernel
 * shows through that mount is exactly what flatten writes.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareSnapshots, formatDifferences, kernelOverlayAvailable, snapshotDir, snapshotTar, withKernelMount } from '../../src/conformance/index.js';
import { openImage } from '../../src/image/image.js';
import { mountLine, unpackImage } from '../../src/image/unpack.js';
import { flattenToDir, flattenToTarFile } from '../../src/rootfs/flatten.js';
import { bytes } from '../rootfs/helpers.js';
import { fixtures, hasRealImages, makeTar, realImages, rmrf, tempDir, writeLayout } from './helpers.js';

const kernel = await kernelOverlayAvailable();
if (!kernel.ok) console.warn(`SKIPPED: unpack + kernel mount: ${kernel.reason}`);
const tmp = tempDir();
afterAll(() => rmrf(tmp));

const example = path.join(fixtures, 'example');

describe('unpack <image>', () => {
  it.runIf(kernel.ok)('layers named by diffID, reused by a second image, a mount.sh that works', async () => {
    const dir = path.join(tmp, 'stack');
    const oci = await openImage([path.join(example, 'oci')]);
    const first = await unpackImage(oci, dir, { progress: false });
    await oci.close();
    expect(first.layers.map((l) => path.basename(l.dir))).toEqual(first.layers.map((l) => l.diffID.slice('sha256:'.length)));
    expect(first.layers.every((l) => !l.reused)).toBe(true);
    expect(first.lowerdirs).toEqual(first.layers.map((l) => l.dir).reverse());
    expect(first.mountLine).toBe(`mount -t overlay overlay -o 'lowerdir=${first.lowerdirs.join(':')}' '${path.join(dir, 'merged')}'`);

    // The docker-archive of the same image costs nothing: every layer is there.
    const docker = await openImage([path.join(example, 'docker-archive.tar')]);
    const second = await unpackImage(docker, dir, { progress: false });
    await docker.close();
    expect(second.layers.every((l) => l.reused)).toBe(true);

    // mount.sh mounts it; the merged view is what flatten writes.
    const mnt = path.join(tmp, 'mnt');
    fs.mkdirSync(mnt);
    execFileSync('sh', [first.script, mnt]);
    try {
      const mounted = await snapshotDir(mnt);
      const image = await openImage([path.join(example, 'oci')]);
      const flat = path.join(tmp, 'flat');
      const flatTar = path.join(tmp, 'flat.tar');
      await flattenToDir(image.layers, flat, { progress: false });
      await flattenToTarFile(image.layers, flatTar, { progress: false });
      await image.close();
      expect(formatDifferences(compareSnapshots(mounted, await snapshotDir(flat), ['kernel', 'flatten dir']))).toBe('');
      expect(formatDifferences(compareSnapshots(mounted, await snapshotTar(bytes(fs.readFileSync(flatTar))), ['kernel', 'flatten tar']))).toBe('');
      expect(formatDifferences(compareSnapshots(mounted, await snapshotTar(bytes(fs.readFileSync(path.join(fixtures, 'umoci', 'rootfs.tar')))), ['kernel', 'umoci']))).toBe('');
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('a layer unpacked another way is not silently reused', async () => {
    const dir = path.join(tmp, 'forms');
    const img = path.join(tmp, 'one-layer');
    writeLayout(img, [{ layers: [{ tar: await makeTar([{ name: 'a', content: 'x' }, { name: '.wh.b' }]) }] }]);
    const open = () => openImage([img]);
    let image = await open();
    await unpackImage(image, dir, { progress: false, form: { whiteouts: 'aufs', userxattr: false } });
    await image.close();
    image = await open();
    await expect(unpackImage(image, dir, { progress: false })).rejects.toThrow(/is already unpacked in .* with a different whiteouts/);
    await image.close();
  });

  it('the same layer over other layers is not reused: its overlay form depends on what is below', async () => {
    const dir = path.join(tmp, 'chains');
    const l1 = await makeTar([{ name: '.wh.gone' }, { name: 'new', content: 'n' }]);
    const alone = path.join(tmp, 'alone');
    const stacked = path.join(tmp, 'stacked');
    writeLayout(alone, [{ layers: [{ tar: l1 }] }]);
    writeLayout(stacked, [{ layers: [{ tar: await makeTar([{ name: 'gone', content: 'g' }]) }, { tar: l1 }] }]);
    let image = await openImage([alone]);
    const a = await unpackImage(image, dir, { progress: false });
    await image.close();
    image = await openImage([stacked]);
    const b = await unpackImage(image, dir, { progress: false });
    await image.close();
    expect(b.layers[1]!.reused).toBe(false);
    expect(path.basename(b.layers[1]!.dir)).toMatch(new RegExp(`^${path.basename(a.layers[0]!.dir)}-[0-9a-f]{64}$`));
    if (kernel.ok) {
      const seen = await withKernelMount(b.lowerdirs, {}, async (mnt) => fs.readdirSync(mnt).sort());
      expect(seen).toEqual(['new']);
    }
    image = await openImage([stacked]);
    const again = await unpackImage(image, dir, { progress: false });
    await image.close();
    expect(again.layers.every((l) => l.reused)).toBe(true);
  });

  it('one layer: an empty second lower, since overlayfs needs two', async () => {
    const img = path.join(tmp, 'single');
    writeLayout(img, [{ layers: [{ tar: await makeTar([{ name: 'hello', content: 'hi' }]) }] }]);
    const image = await openImage([img]);
    const r = await unpackImage(image, path.join(tmp, 'single-out'), { progress: false, form: { whiteouts: 'aufs', userxattr: true } });
    await image.close();
    expect(r.lowerdirs).toHaveLength(2);
    expect(r.lowerdirs[1]).toBe(path.join(tmp, 'single-out', 'empty'));
    expect(fs.readdirSync(r.lowerdirs[1] as string)).toEqual([]);
    expect(r.mountLine).toContain(',userxattr');
    if (kernel.ok) {
      execFileSync('sh', [r.script]);
      try {
        expect(fs.readFileSync(path.join(r.mountpoint, 'hello'), 'utf8')).toBe('hi');
      } finally {
        execFileSync('umount', [r.mountpoint]);
      }
    }
  });

  it('the same layer twice in one image: two directories (different ChainIDs), so lowerdir repeats none', async () => {
    const empty = await makeTar([]);
    const img = path.join(tmp, 'twice');
    writeLayout(img, [{ layers: [{ tar: empty }, { tar: await makeTar([{ name: 'x', content: '1' }]) }, { tar: empty }] }]);
    const image = await openImage([img]);
    const r = await unpackImage(image, path.join(tmp, 'twice-out'), { progress: false });
    await image.close();
    expect(new Set(r.lowerdirs).size).toBe(3);
    if (kernel.ok) await withKernelMount(r.lowerdirs, {}, async (mnt) => expect(fs.readFileSync(path.join(mnt, 'x'), 'utf8')).toBe('1'));
  });

  it('ownership is shifted with --uid-map/--gid-map', async () => {
    const img = path.join(tmp, 'owned');
    writeLayout(img, [{ layers: [{ tar: await makeTar([{ name: 'f', content: 'x' }]) }] }]);
    const image = await openImage([img]);
    const r = await unpackImage(image, path.join(tmp, 'owned-out'), {
      progress: false,
      idMap: { uids: [{ container: 0, host: 100000, count: 65536 }], gids: [{ container: 0, host: 200000, count: 65536 }] },
    });
    await image.close();
    if (process.getuid?.() === 0) {
      const st = fs.lstatSync(path.join(r.layers[0]!.dir, 'f'));
      expect([st.uid, st.gid]).toEqual([100000, 200000]);
    }
    const sidecar = JSON.parse(fs.readFileSync(`${r.layers[0]!.dir}.json`, 'utf8')) as { uidMap: string[] };
    expect(sidecar.uidMap).toEqual(['0:100000:65536']);
  });

  it('the mount line escapes what overlayfs would split on', () => {
    expect(mountLine(['/a:b', '/c,d', "/e'f"], { whiteouts: 'device', userxattr: false }, '/m')).toBe(`mount -t overlay overlay -o 'lowerdir=/a\\:b:/c\\,d:/e'\\''f' '/m'`);
  });

  it.runIf(kernel.ok && hasRealImages)('dive’s 14-layer image: kernel mount = flatten', async () => {
    const image = await openImage([path.join(realImages, 'dive', 'test-docker-image.tar')]);
    try {
      const r = await unpackImage(image, path.join(tmp, 'dive'), { progress: false });
      const flat = path.join(tmp, 'dive-flat');
      await flattenToDir(image.layers, flat, { progress: false });
      const mounted = await withKernelMount(r.lowerdirs, {}, (mnt) => snapshotDir(mnt));
      expect(formatDifferences(compareSnapshots(mounted, await snapshotDir(flat), ['kernel', 'flatten dir']))).toBe('');
    } finally {
      await image.close();
    }
  }, 120_000);
});
