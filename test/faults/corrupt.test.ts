/**
 * Corrupt and truncated input: a clear one-line error that names the layer
 * and the offset where it went wrong, and no output left behind. For a
 * compressed layer the offset may be in the compressed or the uncompressed
 * stream, but it must be there: "corrupt gzip data" alone does not say where.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failureProblems, flattenAvailable, runHosted, show, stopHosts } from '../helpers/hostile-cli.js';
import { makeSandbox } from '../helpers/hostile-fs.js';
import * as T from '../helpers/hostile-tar.js';

afterAll(() => stopHosts());

const GOOD = T.tar(...Array.from({ length: 6 }, (_, i) => T.file(`f${i}`, Buffer.alloc(6000, 0x41 + i))));

function flip(b: Buffer, at: number): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ 0xff;
  c[at + 1] = c[at + 1]! ^ 0xff;
  return c;
}

const GZ = T.gzip(GOOD);
const ZS = T.zstd(GOOD);

const inputs: [string, Buffer][] = [
  ['tar truncated in a file body', GOOD.subarray(0, 20_000)],
  ['tar truncated in a header', GOOD.subarray(0, 512 * 13 + 200)],
  ['tar with a corrupt header (checksum)', flip(GOOD, 512 * 13 + 10)],
  ['gzip truncated', GZ.subarray(0, GZ.length >> 1)],
  ['gzip with corrupt deflate data', flip(GZ, GZ.length >> 1)],
  ['gzip with a bad CRC trailer', flip(GZ, GZ.length - 6)],
  ['zstd truncated', ZS.subarray(0, ZS.length >> 1)],
  ['zstd with corrupt data', flip(ZS, ZS.length >> 1)],
];

describe('corrupt and truncated layers name the layer and the offset', () => {
  for (const [what, data] of inputs) {
    for (const cmd of ['unpack', 'to-overlay', 'to-oci', 'flatten'] as const) {
      it.runIf(cmd !== 'flatten' || flattenAvailable())(`${what}: ${cmd}`, async () => {
        const sb = makeSandbox('whiteout-corrupt-');
        try {
          const layer = path.join(sb.input, 'bad-layer');
          fs.writeFileSync(layer, data);
          const args =
            cmd === 'unpack' ? ['unpack', layer, '-o', sb.target] : cmd === 'flatten' ? ['flatten', layer, '-o', sb.target] : ['convert', layer, '--to', cmd.slice(3), '-o', sb.target];
          const r = await runHosted(args, { env: { TMPDIR: sb.tmp } });
          expect(failureProblems(r), show(r)).toEqual([]);
          expect(r.stderr, 'names the layer').toContain(layer);
          expect(r.stderr, 'says where').toMatch(/offset \d+/);
          expect(fs.existsSync(sb.target), 'output left behind').toBe(false);
          expect(fs.readdirSync(sb.base).sort()).toEqual(['in', 'tmp', 'victim']);
          expect(fs.readdirSync(sb.tmp)).toEqual([]);
        } finally {
          sb.cleanup();
        }
      });
    }
  }

  it.runIf(flattenAvailable())('flatten of two layers names the bad one, not the good one', async () => {
    const sb = makeSandbox('whiteout-corrupt-');
    try {
      const good = path.join(sb.input, 'good-layer');
      const bad = path.join(sb.input, 'bad-layer');
      fs.writeFileSync(good, GOOD);
      fs.writeFileSync(bad, GOOD.subarray(0, 20_000));
      const r = await runHosted(['flatten', good, bad, '-o', sb.target]);
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(r.stderr).toContain(bad);
      expect(r.stderr).not.toContain(good);
      expect(r.stderr).toMatch(/offset 20000/);
      expect(fs.existsSync(sb.target)).toBe(false);
    } finally {
      sb.cleanup();
    }
  });
});
