/**
 * A reader that stops early (flatten's second pass for hardlinks) still gets
 * only proven bytes: the rest of the blob is read through its digest check
 * without being decompressed (src/image/verify.ts provenPrefix, SPEC.md §11).
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/entry.js';
import { openImage } from '../../src/image/image.js';
import { layerEntries } from '../../src/image/layer-entries.js';
import { provenPrefix, verified } from '../../src/image/verify.js';
import { type MergeLayer, mergeLayers } from '../../src/rootfs/merge.js';
import { readOciLayer } from '../../src/layer/oci-read.js';
import { flattenEntries } from '../../src/rootfs/flatten.js';
import { blobFile, makeTar, readBlobJson, readIndex, rmrf, tempDir, writeLayout } from './helpers.js';

const base = tempDir('whiteout-prefix-');
afterAll(() => rmrf(base));

/** A blob as chunks, counting how many the source gave and whether it was closed. */
function counted(chunks: Buffer[]) {
  const seen = { given: 0, closed: false };
  async function* gen(): AsyncGenerator<Buffer> {
    try {
      for (const c of chunks) {
        seen.given++;
        yield c;
      }
    } finally {
      seen.closed = true;
    }
  }
  return { seen, source: gen() };
}

const digestOf = (chunks: Buffer[]) => ({ algorithm: 'sha256', hex: createHash('sha256').update(Buffer.concat(chunks)).digest('hex') });

describe('provenPrefix', () => {
  const chunks = Array.from({ length: 8 }, () => randomBytes(4096));

  it('a reader that stops early: the decoder is closed, the blob is still read to its end and checked', async () => {
    const { seen, source } = counted(chunks);
    let decoded = 0;
    let decoderClosed = false;
    const decode = async function* (s: AsyncIterable<Buffer>) {
      try {
        for await (const c of s) {
          decoded++;
          yield c;
        }
      } finally {
        decoderClosed = true;
      }
    };
    const blob = verified(source, { what: 'blob', digest: digestOf(chunks) });
    for await (const _ of provenPrefix(blob, decode)) break;
    expect(decoded).toBe(1);
    expect(decoderClosed).toBe(true);
    expect(seen.given).toBe(chunks.length);
    expect(seen.closed).toBe(true);
  });

  it('stopping early over a blob whose unread tail is wrong fails with the digest mismatch', async () => {
    const bad = [...chunks.slice(0, -1), randomBytes(4096)];
    const blob = verified(counted(bad).source, { what: 'blob', digest: digestOf(chunks) });
    const read = async () => {
      for await (const _ of provenPrefix(blob, (s) => s)) break;
    };
    await expect(read()).rejects.toThrow(/blob: digest mismatch/);
  });

  it('a decoder that fails closes the blob without reading the rest', async () => {
    const { seen, source } = counted(chunks);
    const decode = async function* (s: AsyncIterable<Buffer>) {
      for await (const c of s) {
        yield c;
        throw new Error('corrupt');
      }
    };
    const read = async () => {
      for await (const _ of provenPrefix(source, decode));
    };
    await expect(read()).rejects.toThrow('corrupt');
    expect(seen.given).toBe(1);
    expect(seen.closed).toBe(true);
  });
});

describe('a layer read for a prefix (OCI layout, gzip)', () => {
  async function layout(name: string) {
    // A hardlink target first, then enough incompressible data that gzip spans many reads.
    const tar = await makeTar([
      { name: 'a', content: 'old' },
      { name: 'b', type: 'link', linkname: 'a' },
      ...Array.from({ length: 6 }, (_, i) => ({ name: `fill${i}`, content: randomBytes(1 << 20) })),
    ]);
    const dir = path.join(base, name);
    writeLayout(dir, [{ layers: [{ tar, gzip: true }, { tar: await makeTar([{ name: 'a', content: 'new' }]), gzip: true }] }]);
    const manifest = readBlobJson<{ layers: { digest: string }[] }>(dir, readIndex(dir).manifests[0]!.digest);
    return { dir, blob: blobFile(dir, manifest.layers[0]!.digest) };
  }

  it('an image layer with a blob digest has openPrefix; the first entries come out and the rest is checked', async () => {
    const { dir } = await layout('good');
    const image = await openImage([dir]);
    try {
      const layer = image.layers[0]!;
      expect(layer.openPrefix).toBeDefined();
      const names: string[] = [];
      for await (const e of layerEntries(layer, { prefix: true })) {
        names.push(e.path);
        if (names.length === 2) break;
      }
      expect(names).toEqual(['a', 'b']);
    } finally {
      await image.close();
    }
  });

  it('a blob changed after the entries the reader wanted fails when the reader stops', async () => {
    const { dir, blob } = await layout('tampered');
    const image = await openImage([dir]);
    try {
      // Same size, last bytes (the gzip trailer) changed: only reading to the end can tell.
      const b = fs.readFileSync(blob);
      b.writeUInt32LE((b.readUInt32LE(b.length - 8) ^ 0xffffffff) >>> 0, b.length - 8);
      fs.writeFileSync(blob, b);
      const read = async () => {
        for await (const e of layerEntries(image.layers[0]!, { prefix: true })) if (e.path === 'b') break;
      };
      await expect(read()).rejects.toThrow(/digest mismatch/);
    } finally {
      await image.close();
    }
  });
});

describe('recover reads content through proven prefixes', () => {
  it('a file taken from the merged view, then a stop: a changed blob tail fails the read; read plainly, it would not', async () => {
    const tar = await makeTar([{ name: 'secret', content: 'kept' }, ...Array.from({ length: 4 }, (_, i) => ({ name: `fill${i}`, content: randomBytes(1 << 20) }))]);
    const dir = path.join(base, 'recover');
    writeLayout(dir, [{ layers: [{ tar, gzip: true }] }]);
    const manifest = readBlobJson<{ layers: { digest: string }[] }>(dir, readIndex(dir).manifests[0]!.digest);
    const blob = blobFile(dir, manifest.layers[0]!.digest);
    const b = fs.readFileSync(blob);
    b.writeUInt32LE((b.readUInt32LE(b.length - 8) ^ 0xffffffff) >>> 0, b.length - 8);
    fs.writeFileSync(blob, b);
    const image = await openImage([dir]);
    try {
      const firstFile = async (stopsEarly: boolean) => {
        for await (const e of flattenEntries(image.layers, { progress: false }, { stopsEarly }).entries) {
          if (e.kind === 'file') return (await collectBody(e.body)).toString();
        }
        return undefined;
      };
      await expect(firstFile(true)).rejects.toThrow(/digest mismatch/);
      expect(await firstFile(false)).toBe('kept');
    } finally {
      await image.close();
    }
  });
});

async function collectBody(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return Buffer.concat(parts);
}

describe("flatten's second pass stops after the last entry it needs", () => {
  /** Merge layers from tars, counting the entries each stream of the bottom layer gave. */
  async function run(withPrefix: boolean) {
    const l0 = await makeTar([
      { name: 'a', content: 'old' },
      { name: 'b', type: 'link', linkname: 'a' },
      ...Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, content: `${i}` })),
    ]);
    const l1 = await makeTar([{ name: 'a', content: 'new' }]);
    const pulled: number[] = [];
    const stream = (tar: Buffer, k: number) =>
      async function* (): AsyncGenerator<Entry> {
        pulled[k] ??= 0;
        for await (const e of readOciLayer((async function* () { yield tar; })(), { name: 'l0' })) {
          pulled[k]++;
          yield e;
        }
      };
    const bottom: MergeLayer = { what: 'l0', entries: stream(l0, 0) };
    if (withPrefix) bottom.prefix = stream(l0, 1);
    const top: MergeLayer = { what: 'l1', entries: stream(l1, 2) };
    const out: Entry[] = [];
    for await (const e of mergeLayers([bottom, top])) {
      if (e.kind === 'file' && e.body) for await (const _ of e.body);
      out.push(e);
    }
    return { pulled, out };
  }

  it('with prefix(): the second read stops at the target (entry 0); the link gets the old content', async () => {
    const { pulled, out } = await run(true);
    expect(pulled[0]).toBe(52);
    expect(pulled[1]).toBe(1);
    const b = out.find((e) => e.path === 'b');
    expect(b).toMatchObject({ kind: 'file', size: 3 });
  });

  it('without prefix(): the second read goes to the end, as only a whole read proves the layer', async () => {
    const { pulled, out } = await run(false);
    expect(pulled[0]).toBe(52 * 2);
    expect(out.find((e) => e.path === 'b')).toMatchObject({ kind: 'file', size: 3 });
  });
});
