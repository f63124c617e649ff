/**
 * flatten's edges, each on a stack small enough to read: hardlinks whose
 * target a higher layer replaced (go-containerregistry#977), implied parents
 * over a lower symlink, selection (--path, --layers, --omit), id maps, and
 * writing nothing outside the target.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type TreeSnapshot, applyOciLayers, compareSnapshots, formatDifferences, snapshotTar } from '../../src/conformance/index.js';
import { WhiteoutError } from '../../src/errors.js';
import { openImage } from '../../src/image/image.js';
import { flattenToTar } from '../../src/rootfs/flatten.js';
import { parseIdRanges } from '../../src/rootfs/idmap.js';
import { parseLayerRange } from '../../src/rootfs/select.js';
import { readTar } from '../../src/tar/read.js';
import { fixtures, makeTar } from '../image/helpers.js';
import { bytes, collect, flattenDirSnapshot, flattenTarSnapshot, memoryLayers, rmrf, tempBase } from './helpers.js';

const base = tempBase();
afterAll(() => rmrf(base));

async function tarTypes(tar: Buffer): Promise<Map<string, { type: string; linkname: string }>> {
  const out = new Map<string, { type: string; linkname: string }>();
  for await (const t of readTar(bytes(tar))) out.set(t.header.name.replace(/^\.\/|\/$/g, ''), { type: t.header.type, linkname: t.header.linkname });
  return out;
}

function content(snap: TreeSnapshot, p: string): string | undefined {
  return snap.nodes.get(p)?.sha256;
}

describe('hardlinks whose target a higher layer replaced (go-containerregistry#977)', () => {
  it('the link keeps the old content, as a file of its own; the layer is read once (the spool kept the target)', async () => {
    const l0 = await makeTar([{ name: 'a', content: 'old' }, { name: 'b', type: 'link', linkname: 'a' }, { name: 'c', type: 'link', linkname: 'a' }]);
    const l1 = await makeTar([{ name: 'a', content: 'new' }]);
    const opens: number[] = [];
    const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('whiteout-spool-'));
    const { tar, snap } = await flattenTarSnapshot(memoryLayers([l0, l1], opens), base);
    const types = await tarTypes(tar);
    expect(types.get('b')).toMatchObject({ type: 'file' });
    expect(types.get('c')).toMatchObject({ type: 'hardlink', linkname: 'b' });
    const { createHash } = await import('node:crypto');
    const h = (s: string) => createHash('sha256').update(s).digest('hex');
    expect(content(snap, 'a')).toBe(h('new'));
    expect(content(snap, 'b')).toBe(h('old'));
    expect(snap.nodes.get('c')?.linkGroup).toBe('b');
    expect(snap.nodes.get('a')?.linkGroup).toBeUndefined();
    // Sessions 1–5 read the bottom layer a second time here ([2, 1]); the spool of hidden files
    // (src/rootfs/spool.ts) now keeps `a`'s old content from the first read. test/rootfs/spool.test.ts
    // has the second pass, which is still the fallback past the spool's budget.
    expect(opens).toEqual([1, 1]);
    const dir = await flattenDirSnapshot(memoryLayers([l0, l1]), base);
    expect(formatDifferences(compareSnapshots(snap, dir, ['tar', 'dir']))).toBe('');
    // The tar's spool was in the temporary directory, the directory's in its work dir: none is left.
    expect(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith('whiteout-spool-'))).toEqual(before);
  });

  it('a target deleted above: the link still has its content', async () => {
    const l0 = await makeTar([{ name: 'd/a', content: 'old' }, { name: 'b', type: 'link', linkname: 'd/a' }]);
    const l1 = await makeTar([{ name: '.wh.d' }]);
    const { snap } = await flattenTarSnapshot(memoryLayers([l0, l1]), base);
    expect([...snap.nodes.keys()].sort()).toEqual(['', 'b']);
    expect(snap.nodes.get('b')?.size).toBe(3);
  });

  it('links whose target shows need no second pass', async () => {
    const l0 = await makeTar([{ name: 'a', content: 'x' }, { name: 'b', type: 'link', linkname: 'a' }]);
    const opens: number[] = [];
    const { tar } = await flattenTarSnapshot(memoryLayers([l0], opens), base);
    expect((await tarTypes(tar)).get('b')).toMatchObject({ type: 'hardlink', linkname: 'a' });
    expect(opens).toEqual([1]);
  });

  it('a hardlink to something outside its layer is refused', async () => {
    const l0 = await makeTar([{ name: 'etc/passwd', content: 'root' }]);
    const l1 = await makeTar([{ name: 'x', type: 'link', linkname: '/etc/passwd' }]);
    await expect(flattenTarSnapshot(memoryLayers([l0, l1]), base)).rejects.toThrow(/hardlink 'x' → 'etc\/passwd': the target is not in this layer/);
  });
});

describe('the overlay rule for implied parents', () => {
  it('an entry below a lower symlink replaces the symlink by a directory; nothing goes through it', async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-outside-'));
    try {
      const l0 = await makeTar([{ name: 'link', type: 'symlink', linkname: outside }]);
      const l1 = await makeTar([{ name: 'link/planted', content: 'x' }]);
      const layers = memoryLayers([l0, l1]);
      const { snap } = await flattenTarSnapshot(layers, base);
      const dir = await flattenDirSnapshot(layers, base);
      for (const s of [snap, dir]) {
        expect(s.nodes.get('link')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
        expect(s.nodes.get('link/planted')?.type).toBe('file');
      }
      expect(fs.readdirSync(outside)).toEqual([]);
    } finally {
      rmrf(outside);
    }
  });

  it('an implied parent over a lower directory keeps the lower metadata', async () => {
    const l0 = await makeTar([{ name: 'd/', type: 'directory', mode: 0o700 }]);
    const l1 = await makeTar([{ name: 'd/x', content: 'x' }]);
    const { snap } = await flattenTarSnapshot(memoryLayers([l0, l1]), base);
    expect(snap.nodes.get('d')).toMatchObject({ type: 'dir', mode: 0o700, mtime: 1_700_000_000 });
  });

  it('a tar is emitted top layer first, with no entry twice (except an implied parent given its metadata later)', async () => {
    const { tar } = await flattenTarSnapshot(await exampleLayers(), base);
    const names: string[] = [];
    for await (const t of readTar(bytes(tar))) names.push(t.header.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names[0]).toBe('app/');
  });
});

async function exampleLayers() {
  const image = await openImage([path.join(fixtures, 'example', 'oci')]);
  return image.layers;
}

describe('selection', () => {
  it('--path: the subtree and the directories leading to it, as merged', async () => {
    const layers = await exampleLayers();
    const { snap } = await flattenTarSnapshot(layers, base, { path: '/app/bin' });
    expect([...snap.nodes.keys()].sort()).toEqual(['', 'app', 'app/bin', 'app/bin/new', 'app/bin/new-hardlink', 'app/bin/tool', 'app/bin/tool-hardlink', 'app/bin/tool-symlink']);
    // The directories on the way have their merged metadata, not defaults.
    expect(snap.nodes.get('app')?.mtime).toBe(1_700_000_000);
  });

  it('--path to a file, and to nothing', async () => {
    const layers = await exampleLayers();
    const { snap } = await flattenTarSnapshot(layers, base, { path: '/etc/os-release' });
    expect([...snap.nodes.keys()].sort()).toEqual(['', 'etc', 'etc/os-release']);
    await expect(flattenTarSnapshot(layers, base, { path: '/root/.ssh/id_rsa' })).rejects.toThrow(/--path: \/root\/.ssh\/id_rsa is not in the image/);
  });

  it('--path through a symlink finds nothing (symlinks are never followed)', async () => {
    const l0 = await makeTar([{ name: 'real/f', content: 'x' }, { name: 'alias', type: 'symlink', linkname: 'real' }]);
    await expect(flattenTarSnapshot(memoryLayers([l0]), base, { path: '/alias/f' })).rejects.toThrow(/is not in the image/);
  });

  it('--layers and --omit: the secrets come back without the layer that deleted them', async () => {
    const layers = await exampleLayers();
    const { snap: upTo2 } = await flattenTarSnapshot(layers, base, parseLayerRange('..2'));
    expect(upTo2.nodes.has('root/.ssh/id_rsa')).toBe(true);
    expect(upTo2.nodes.has('app/cache/c1.txt')).toBe(true);
    const { snap: omit3 } = await flattenTarSnapshot(layers, base, { omit: [3] });
    expect(omit3.nodes.has('app/.env')).toBe(true);
    expect(omit3.nodes.has('app/cache/c1.txt')).toBe(false);
    const { snap: just5 } = await flattenTarSnapshot(layers, base, parseLayerRange('5'));
    expect([...just5.nodes.keys()].sort()).toEqual(['', 'app', 'app/dir-to-file', 'app/file-to-dir', 'app/file-to-dir/inner.txt', 'run']);
    await expect(flattenTarSnapshot(layers, base, parseLayerRange('4..9'))).rejects.toThrow(/layer 9 does not exist \(the image has layers 0..5\)/);
    expect(() => parseLayerRange('a..b')).toThrow(/is not <from>..<to>/);
  });

  it('--uid-map/--gid-map shift owners; an id no range covers is an error', async () => {
    const l0 = await makeTar([{ name: 'f', content: 'x' }]);
    const idMap = { uids: parseIdRanges(['0:100000:65536'], '--uid-map'), gids: parseIdRanges(['0:200000:1000'], '--gid-map') };
    const { snap } = await flattenTarSnapshot(memoryLayers([l0]), base, { idMap });
    expect(snap.nodes.get('f')).toMatchObject({ uid: 100000, gid: 200000 });
    expect(snap.nodes.get('')).toMatchObject({ uid: 100000, gid: 200000 });
    const narrow = { uids: parseIdRanges(['1:100000:10'], '--uid-map'), gids: [] };
    await expect(flattenTarSnapshot(memoryLayers([l0]), base, { idMap: narrow })).rejects.toThrow(/uid 0 of 'f': is not covered by the id map/);
    expect(() => parseIdRanges(['0:1:10', '5:100:10'], '--uid-map')).toThrow(/overlap/);
    expect(() => parseIdRanges(['0:1'], '--uid-map')).toThrow(/container:host:count/);
  });
});

describe('a layer that replaces its own directory (layer.md D2 forbids it)', () => {
  const stack = async () => [await makeTar([{ name: 'd/old', content: 'x' }]), await makeTar([{ name: 'd/gone', content: 'y' }, { name: 'd', content: 'now a file' }]), await makeTar([{ name: 'd/new', content: 'z' }])];
  it('files and directories read it right (a second pass)', async () => {
    const tars = await stack();
    const model = applyOciLayers([
      [{ op: 'file', path: 'd/old', content: Buffer.from('x'), mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 }],
      [
        { op: 'file', path: 'd/gone', content: Buffer.from('y'), mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 },
        { op: 'file', path: 'd', content: Buffer.from('now a file'), mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 },
      ],
      [{ op: 'file', path: 'd/new', content: Buffer.from('z'), mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 }],
    ]);
    const { snap } = await flattenTarSnapshot(memoryLayers(tars), base);
    expect(formatDifferences(compareSnapshots(model, snap, ['model', 'flatten']))).toBe('');
  });

  it('a directory entry the layer then replaces gives no metadata to the directory above', async () => {
    const tars = [await makeTar([{ name: 'd/', type: 'directory', mode: 0o700 }, { name: 'd', content: 'file' }]), await makeTar([{ name: 'd/x', content: 'x' }])];
    const { snap } = await flattenTarSnapshot(memoryLayers(tars), base);
    expect(snap.nodes.get('d')).toMatchObject({ type: 'dir', mode: 0o755, mtime: 0 });
  });

  it('two entries for one directory: the later one’s attributes, also for a directory implied above', async () => {
    const tars = [await makeTar([{ name: 'd/', type: 'directory', mode: 0o700 }, { name: 'd/', type: 'directory', mode: 0o750 }]), await makeTar([{ name: 'd/x', content: 'x' }])];
    const { snap } = await flattenTarSnapshot(memoryLayers(tars), base);
    expect(snap.nodes.get('d')).toMatchObject({ type: 'dir', mode: 0o750 });
  });

  it('a stream cannot start over: it says so', async () => {
    const tars = await stack();
    const e = await collect(flattenToTar(memoryLayers(tars), { progress: false })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WhiteoutError);
    expect((e as WhiteoutError).why).toMatch(/replaced by a non-directory in the same layer; reading it right takes a second pass/);
  });
});

describe('what no overlay mount can show', () => {
  it('a visible character device 0/0 is an error; a hidden one is not', async () => {
    const { default: tarStream } = await import('tar-stream');
    const pack = tarStream.pack();
    pack.entry({ name: 'fake-whiteout', type: 'character-device', devmajor: 0, devminor: 0, mode: 0o600 });
    pack.finalize();
    const l0 = await collect(pack as unknown as AsyncIterable<Buffer>);
    await expect(flattenTarSnapshot(memoryLayers([l0]), base)).rejects.toThrow(/'fake-whiteout' is a character device 0\/0/);
    const l1 = await makeTar([{ name: 'fake-whiteout', content: 'file now' }]);
    const { snap } = await flattenTarSnapshot(memoryLayers([l0, l1]), base);
    expect(snap.nodes.get('fake-whiteout')?.type).toBe('file');
  });
});
