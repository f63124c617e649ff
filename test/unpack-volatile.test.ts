/**
 * unpack from a source that refills its chunks (src/io.ts ReadSourceOptions.reuse,
 * UnpackOptions.volatileSource): the worst such source, one buffer refilled the
 * moment the next chunk is asked for, while the threadpool is kept busy so every
 * write behind is still queued when its chunk is refilled. Told the source is
 * volatile, unpack copies what it keeps and every byte lands; not told, big files
 * come out wrong, which is why the flag exists.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unpackLayer } from '../src/ops/unpack.js';
import { tempDir } from './helpers/entries.js';

const t = tempDir('whiteout-volatile-');
afterAll(() => t.cleanup());

const src = path.join(t.dir, 'src');
fs.mkdirSync(path.join(src, 'small'), { recursive: true });
const files = new Map<string, Buffer>();
for (let i = 0; i < 4; i++) files.set(`big${i}`, crypto.randomBytes(2_500_000 + i * 4099));
for (let i = 0; i < 200; i++) files.set(`small/f${i}`, crypto.randomBytes(i * 97));
for (const [p, b] of files) fs.writeFileSync(path.join(src, p), b);
const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
const tgz = execFileSync('gzip', ['-c'], { input: tar, maxBuffer: 1 << 30 });

/** `bytes` in 1 MiB chunks of one buffer, refilled when the next chunk is asked for. */
async function* refilled(bytes: Buffer): AsyncGenerator<Buffer> {
  const one = Buffer.allocUnsafe(1 << 20);
  for (let off = 0; off < bytes.length; off += one.length) {
    const n = bytes.copy(one, 0, off, Math.min(off + one.length, bytes.length));
    yield one.subarray(0, n);
  }
}

async function unpackBusy(input: Buffer, out: string, volatileSource: boolean): Promise<void> {
  const busy = Array.from({ length: 16 }, () => new Promise((r) => crypto.pbkdf2('x', 'y', 60_000, 32, 'sha256', r)));
  await unpackLayer(refilled(input), out, { volatileSource, name: 'layer' });
  await Promise.all(busy);
}

const wrong = (out: string) => [...files].filter(([p, b]) => !fs.readFileSync(path.join(out, p)).equals(b)).map(([p]) => p);

describe('unpack from a source that refills its chunks', () => {
  it('lands every byte when told the source is volatile (plain and gzip)', async () => {
    for (const [name, input] of [['plain', tar], ['gzip', tgz]] as const) {
      const out = path.join(t.dir, `ok-${name}`);
      await unpackBusy(input, out, true);
      expect(wrong(out)).toEqual([]);
    }
  }, 60_000);

  it('gets big files wrong when not told', async () => {
    const out = path.join(t.dir, 'bad');
    await unpackBusy(tar, out, false);
    expect(wrong(out).filter((p) => p.startsWith('big')).length).toBeGreaterThan(0);
  }, 60_000);
});
