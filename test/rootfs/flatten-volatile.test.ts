/**
 * flatten from layers read into reused buffers (LayerReadOptions.volatile,
 * src/rootfs/flatten.ts): the worst such layer, one buffer refilled the moment
 * the next chunk is asked for, while the threadpool is kept busy so every write
 * behind is still queued when its chunk is refilled. flattenToDir and
 * flattenToTarFile ask for volatile reads, and every byte lands, through gzip
 * and zstd too; a directory writer not told its bodies are volatile gets big
 * files wrong, which is why it copies them.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageLayer, LayerReadOptions } from '../../src/image/image.js';
import { RootfsDirWriter } from '../../src/rootfs/dir-write.js';
import { flattenEntries, flattenToDir, flattenToTarFile } from '../../src/rootfs/flatten.js';
import { decompress } from '../../src/tar/compress.js';
import { tempDir } from '../helpers/entries.js';

const t = tempDir('whiteout-flatten-volatile-');
afterAll(() => t.cleanup());

/** The files a layer directory holds, by path. */
function makeLayer(name: string, files: Map<string, Buffer>, extra: (dir: string) => void = () => {}): Buffer {
  const dir = path.join(t.dir, name);
  for (const [p, b] of files) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), b);
  }
  extra(dir);
  return execFileSync('tar', ['-C', dir, '--sort=name', '-cf', '-', '.'], { maxBuffer: 1 << 30 });
}

const bottom = new Map<string, Buffer>();
for (let i = 0; i < 4; i++) bottom.set(`big${i}`, crypto.randomBytes(2_500_000 + i * 4099));
for (let i = 0; i < 150; i++) bottom.set(`small/f${i}`, crypto.randomBytes(i * 97));
bottom.set('gone/hidden', crypto.randomBytes(300_000));
// A hardlink whose target the upper layer deletes: its content comes from the spool.
const bottomTar = makeLayer('bottom', bottom, (d) => fs.linkSync(path.join(d, 'gone/hidden'), path.join(d, 'kept-link')));
const upper = new Map<string, Buffer>([['big-upper', crypto.randomBytes(1_700_000)]]);
const upperTar = makeLayer('upper', upper, (d) => fs.writeFileSync(path.join(d, '.wh.gone'), ''));

const expected = new Map<string, Buffer>([...bottom].filter(([p]) => !p.startsWith('gone/')));
for (const [p, b] of upper) expected.set(p, b);
expected.set('kept-link', bottom.get('gone/hidden')!);

/** `bytes` in 1 MiB chunks of one buffer, refilled when the next chunk is asked for. */
async function* refilled(bytes: Buffer): AsyncGenerator<Buffer> {
  const one = Buffer.allocUnsafe(1 << 20);
  for (let off = 0; off < bytes.length; off += one.length) {
    const n = bytes.copy(one, 0, off, Math.min(off + one.length, bytes.length));
    yield one.subarray(0, n);
  }
}

/** Fresh chunks, as a layer not asked for volatile reads gives them. */
async function* fresh(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let off = 0; off < bytes.length; off += 1 << 20) yield Buffer.from(bytes.subarray(off, off + (1 << 20)));
}

/**
 * A layer whose blob is `blob`; asked for volatile reads (or `alwaysRefilled`,
 * a layer that refills whatever it is told), its chunks are refilled in place.
 */
function layer(index: number, blob: Buffer, alwaysRefilled = false): ImageLayer {
  return {
    index,
    what: `layer ${index}`,
    size: blob.length,
    open(_events, opts: LayerReadOptions = {}) {
      const volatile = alwaysRefilled || (opts.volatile ?? false);
      return decompress(volatile ? refilled(blob) : fresh(blob), { name: `layer ${index}`, volatile });
    },
  };
}

function compressed(kind: 'plain' | 'gzip' | 'zstd', tar: Buffer): Buffer {
  if (kind === 'plain') return tar;
  return execFileSync(kind, ['-c', '-q'], { input: tar, maxBuffer: 1 << 30 });
}

function busy(): Promise<unknown[]> {
  return Promise.all(Array.from({ length: 16 }, () => new Promise((r) => crypto.pbkdf2('x', 'y', 60_000, 32, 'sha256', r))));
}

const wrongIn = (root: string) => [...expected].filter(([p, b]) => !fs.existsSync(path.join(root, p)) || !fs.readFileSync(path.join(root, p)).equals(b)).map(([p]) => p);

const hasZstd = (() => {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasZstd) console.warn('flatten-volatile: no zstd on this machine; the zstd case is skipped (.ci/run installs it)');

describe('flatten from layers read into reused buffers', () => {
  for (const kind of ['plain', 'gzip', 'zstd'] as const) {
    it.skipIf(kind === 'zstd' && !hasZstd)(`lands every byte, in a directory and in a tar file (${kind})`, async () => {
      const layers = [layer(0, compressed(kind, bottomTar)), layer(1, compressed(kind, upperTar))];
      const dir = path.join(t.dir, `out-${kind}`);
      const pending = busy();
      await flattenToDir(layers, dir, { progress: false });
      await pending;
      expect(wrongIn(dir)).toEqual([]);
      expect(fs.existsSync(path.join(dir, 'gone'))).toBe(false);

      const tarFile = path.join(t.dir, `out-${kind}.tar`);
      const pendingToo = busy();
      await flattenToTarFile(layers, tarFile, { progress: false });
      await pendingToo;
      const extracted = path.join(t.dir, `out-${kind}-tar`);
      fs.mkdirSync(extracted);
      execFileSync('tar', ['-C', extracted, '-xf', tarFile]);
      expect(wrongIn(extracted)).toEqual([]);
    }, 60_000);
  }

  it('gets big files wrong in a directory writer not told its bodies are volatile', async () => {
    const layers = [layer(0, bottomTar, true), layer(1, upperTar, true)];
    const root = path.join(t.dir, 'bad');
    const work = path.join(t.dir, 'bad-work');
    fs.mkdirSync(root);
    fs.mkdirSync(work);
    const pending = busy();
    const writer = new RootfsDirWriter(root, { workDir: work, what: 'bad' });
    for await (const e of flattenEntries(layers, { progress: false }).entries) await writer.add(e);
    await writer.finish();
    await pending;
    expect(wrongIn(root).filter((p) => p.startsWith('big')).length).toBeGreaterThan(0);
  }, 60_000);
});
