import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { WhiteoutError } from '../../src/errors.js';
import { compress, decompress, detectCompression } from '../../src/tar/compress.js';
import { digestPassThrough } from '../../src/tar/digest.js';
import { chunked, collect, file, has, readAll, rejection, run, writeAll } from './util.js';

/** Some tar bytes that compress well but not trivially. */
async function sample(): Promise<Buffer> {
  const entries = Array.from({ length: 50 }, (_, i) => file(`dir/file-${i}`, Buffer.from(`line ${i}\n`.repeat(i * 100))));
  return writeAll(entries);
}

async function decodeError(data: Buffer, chunk = 4096): Promise<WhiteoutError> {
  const e = await rejection(collect(decompress(chunked(data, chunk), { name: 'layer.gz' })));
  expect(e).toBeInstanceOf(WhiteoutError);
  const w = e as WhiteoutError;
  expect(w.what).toBe('layer.gz');
  expect(w.code).toBe('input');
  return w;
}

describe('detectCompression', () => {
  it('tells the formats apart by their magic', () => {
    expect(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0]))).toBe('gzip');
    expect(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0]))).toBe('zstd');
    expect(detectCompression(Buffer.from('plain tar name'))).toBe('none');
    expect(detectCompression(Buffer.alloc(0))).toBe('none');
    // A tar whose first name starts with "BZh" is not bzip2.
    expect(detectCompression(Buffer.from('BZh9-notes.txt\0\0\0'))).toBe('none');
  });

  it('refuses xz and bzip2 by name', () => {
    expect(() => detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0, 0]), 'l.xz')).toThrow(/xz-compressed layers are not supported/);
    expect(() => detectCompression(Buffer.from([0x42, 0x5a, 0x68, 0x39, 0x31, 0x41, 0x59, 0x26, 0x53, 0x59]))).toThrow(/bzip2/);
  });
});

describe('decompress', () => {
  it('decodes gzip from node:zlib and from gzip(1), in chunks of any size', async () => {
    const tar = await sample();
    for (const gz of [gzipSync(tar), run('gzip', ['-c', '-9'], { input: tar })]) {
      for (const chunk of [1, 3, 1000, 1 << 20]) {
        expect((await collect(decompress(chunked(gz, chunk)))).equals(tar)).toBe(true);
      }
    }
  });

  it('decodes zstd from zstd(1)', async () => {
    const tar = await sample();
    const zst = run('zstd', ['-c', '-q', '-19'], { input: tar });
    for (const chunk of [2, 4096]) expect((await collect(decompress(chunked(zst, chunk)))).equals(tar)).toBe(true);
    expect((await readAll(decompress(chunked(zst, 999)))).length).toBe(50);
  });

  it('decodes zstd whose output fills its buffers exactly (1 GNU tar layer in 32 is 5 × 64 KiB long, or a multiple)', async () => {
    // The in-line decoder's buffers are 64 KiB: it called such a layer truncated (the thread's: test/tar/zstd-thread.test.ts).
    for (const size of [327_680, 1 << 20]) {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);
      const zst = run('zstd', ['-c', '-q'], { input: data });
      for (const thread of [false, true]) {
        for (const chunk of [zst.length, 4096]) {
          expect((await collect(decompress(chunked(zst, chunk), { thread }))).equals(data), `${size} bytes, thread ${thread}`).toBe(true);
        }
      }
    }
  });

  it('decodes concatenated gzip members and zstd frames', async () => {
    const a = Buffer.from('first member '.repeat(100));
    const b = Buffer.from('second member '.repeat(100));
    expect((await collect(decompress(chunked(Buffer.concat([gzipSync(a), gzipSync(b)]), 50)))).equals(Buffer.concat([a, b]))).toBe(true);
    const z = Buffer.concat([run('zstd', ['-c', '-q'], { input: a }), run('zstd', ['-c', '-q'], { input: b })]);
    expect((await collect(decompress(chunked(z, 50)))).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('passes plain data through unchanged', async () => {
    const tar = await sample();
    expect((await collect(decompress(chunked(tar, 3)))).equals(tar)).toBe(true);
  });

  it('reports truncated gzip and zstd streams instead of a short read', async () => {
    const tar = await sample();
    const gz = gzipSync(tar);
    for (const cut of [5, 20, Math.floor(gz.length / 2), gz.length - 4]) {
      expect((await decodeError(gz.subarray(0, cut))).why).toMatch(/^corrupt gzip data before compressed offset \d+: /);
    }
    const zst = run('zstd', ['-c', '-q'], { input: tar });
    for (const cut of [6, Math.floor(zst.length / 2), zst.length - 1]) {
      expect((await decodeError(zst.subarray(0, cut))).why).toMatch(/^(corrupt|truncated) zstd data.* offset \d+/);
    }
  });

  it('reports corrupt data', async () => {
    const gz = gzipSync(await sample());
    const bad = Buffer.from(gz);
    bad.fill(0x55, 100, 200);
    expect((await decodeError(bad)).why).toMatch(/^corrupt gzip data before compressed offset \d+: /);
    const zst = run('zstd', ['-c', '-q'], { input: await sample() });
    const zbad = Buffer.from(zst);
    zbad.fill(0x55, 20, 80);
    expect((await decodeError(zbad)).why).toMatch(/^(corrupt|truncated) zstd data.* offset \d+/);
  });

  it.skipIf(!has('xz'))('gives the clear error for xz layers', async () => {
    expect((await decodeError(run('xz', ['-c'], { input: await sample() }))).why).toMatch(/xz-compressed layers are not supported/);
  });

  it.skipIf(!has('bzip2'))('gives the clear error for bzip2 layers', async () => {
    expect((await decodeError(run('bzip2', ['-c'], { input: await sample() }))).why).toMatch(/bzip2-compressed layers are not supported/);
  });

  it('passes source errors through unchanged', async () => {
    const gz = gzipSync(await sample());
    const boom = new Error('disk on fire');
    async function* failing(): AsyncGenerator<Buffer> {
      yield gz.subarray(0, 100);
      throw boom;
    }
    expect(await rejection(collect(decompress(failing())))).toBe(boom);
  });

  it('closes the source when the consumer stops early', async () => {
    const gz = gzipSync(Buffer.alloc(4 << 20, 1));
    let closed = false;
    async function* src(): AsyncGenerator<Buffer> {
      try {
        yield* chunked(gz, 100);
      } finally {
        closed = true;
      }
    }
    for await (const c of decompress(src())) {
      expect(c.length).toBeGreaterThan(0);
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(true);
  });
});

describe('compress', () => {
  it.each(['gzip', 'zstd', 'none'] as const)('round-trips %s, and the CLI tools agree', async (kind) => {
    const tar = await sample();
    const out = await collect(compress(chunked(tar, 1000), kind, kind === 'none' ? undefined : 3));
    expect((await collect(decompress(chunked(out, 777)))).equals(tar)).toBe(true);
    if (kind === 'gzip') expect(run('gzip', ['-d', '-c'], { input: out }).equals(tar)).toBe(true);
    if (kind === 'zstd') expect(run('zstd', ['-d', '-c', '-q'], { input: out }).equals(tar)).toBe(true);
    if (kind !== 'none') expect(out.length).toBeLessThan(tar.length / 2);
  });

  it('is deterministic', async () => {
    const tar = await sample();
    for (const kind of ['gzip', 'zstd'] as const) {
      const a = await collect(compress(chunked(tar), kind));
      const b = await collect(compress(chunked(tar, 100), kind));
      expect(a.equals(b)).toBe(true);
    }
  });
});

describe('digestPassThrough', () => {
  it('hashes what passes, once it has all passed', async () => {
    const data = await sample();
    const d = digestPassThrough(chunked(data, 1234));
    expect(() => d.result()).toThrow();
    expect((await collect(d.stream)).equals(data)).toBe(true);
    expect(d.result()).toEqual({ digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length });
  });
});
