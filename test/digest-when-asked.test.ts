/**
 * The layer is hashed only for someone who reads the hash (src/tar/digest.ts
 * countedPassThrough; `digest: false` in pack and unpack, which the CLI passes
 * for -q without --json or --diff-id): sha256 is ~0.6 s of CPU a GB that GNU
 * tar never spends. The sizes are still counted, and a --diff-id is still
 * checked under -q.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { packLayer } from '../src/ops/pack.js';
import { unpackLayer } from '../src/ops/unpack.js';
import { BIN } from './helpers/hostile-cli.js';
import { concat, tempDir } from './helpers/entries.js';

// Every sha256 started, counted: what "not hashed" means here.
const hashes = vi.hoisted(() => ({ started: 0 }));
vi.mock('node:crypto', async (original) => {
  const real = await original<typeof import('node:crypto')>();
  const createHash = (algorithm: string, opts?: crypto.HashOptions) => {
    if (algorithm === 'sha256') hashes.started++;
    return real.createHash(algorithm, opts);
  };
  return { ...real, default: { ...real, createHash }, createHash };
});

const t = tempDir('whiteout-digest-asked-');
afterAll(() => t.cleanup());
beforeEach(() => {
  hashes.started = 0;
});

const upper = path.join(t.dir, 'upper');
fs.mkdirSync(path.join(upper, 'etc'), { recursive: true });
fs.writeFileSync(path.join(upper, 'etc', 'hosts'), 'x'.repeat(5000));
fs.writeFileSync(path.join(upper, 'etc', 'hostname'), 'box');

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

describe('digest: false', () => {
  it('pack: same bytes and sizes, no sha256 started, no digests in the result (plain and gzip)', async () => {
    for (const compression of ['none', 'gzip'] as const) {
      const hashed = packLayer(upper, { compression });
      const want = await concat(hashed.stream);
      const withHash = hashed.result();
      expect(hashes.started).toBe(compression === 'none' ? 1 : 2);
      hashes.started = 0;
      const counted = packLayer(upper, { compression, digest: false });
      const got = await concat(counted.stream);
      expect(hashes.started).toBe(0);
      expect(got.equals(want)).toBe(true);
      const r = counted.result();
      expect(r).toEqual({ size: withHash.size, uncompressedSize: withHash.uncompressedSize });
      expect(withHash.diffID).toMatch(/^sha256:[0-9a-f]{64}$/);
    }
  });

  it('unpack: no sha256 started, no diffID; with a diffID to check it hashes anyway', async () => {
    const tar = await concat(packLayer(upper).stream);
    hashes.started = 0;
    const r = await unpackLayer(once(tar), path.join(t.dir, 'u1'), { digest: false, name: 'layer' });
    expect(hashes.started).toBe(0);
    expect(r.diffID).toBeUndefined();
    expect(r.size).toBe(tar.length);
    const right = `sha256:${crypto.createHash('sha256').update(tar).digest('hex')}`;
    hashes.started = 0;
    const checked = await unpackLayer(once(tar), path.join(t.dir, 'u2'), { name: 'layer', diffID: right });
    expect(hashes.started).toBe(1);
    expect(checked.diffID).toBe(right);
  });
});

describe('the CLI hashes for what it shows', () => {
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args]);
    return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  const layer = path.join(t.dir, 'layer.tar');

  it('pack -q --json and unpack -q --json still give the digests; -q --diff-id still checks', async () => {
    const p = run(['pack', upper, '-o', layer, '-q', '--json']);
    expect(p.code, p.stderr).toBe(0);
    const tar = fs.readFileSync(layer);
    const diffID = `sha256:${crypto.createHash('sha256').update(tar).digest('hex')}`;
    expect(JSON.parse(p.stdout)).toMatchObject({ diffID, digest: diffID, size: tar.length });

    const quiet = run(['pack', upper, '-o', path.join(t.dir, 'quiet.tar'), '-q']);
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
    expect(fs.readFileSync(path.join(t.dir, 'quiet.tar')).equals(tar)).toBe(true);

    const u = run(['unpack', layer, '-o', path.join(t.dir, 'c1'), '-q', '--json']);
    expect(JSON.parse(u.stdout).diffID).toBe(diffID);
    const summary = run(['unpack', layer, '-o', path.join(t.dir, 'c2')]);
    expect(summary.stderr).toContain(`diffID ${diffID}`);

    const wrong = `sha256:${'0'.repeat(64)}`;
    const bad = run(['unpack', layer, '-o', path.join(t.dir, 'c3'), '-q', '--diff-id', wrong]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`whiteout: ${layer}: diffID mismatch: expected ${wrong}, got ${diffID}\n`);
    expect(fs.existsSync(path.join(t.dir, 'c3'))).toBe(false);
  });
});
