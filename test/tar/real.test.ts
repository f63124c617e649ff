/**
 * Real layers made by other tools (../shared/real-images, read in place).
 * Expected values come from independent readers: Python's tarfile, GNU tar.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decompress } from '../../src/tar/compress.js';
import { readTar } from '../../src/tar/read.js';
import { REAL, chunked, collect, has, readAll, run, withTmp } from './util.js';

const have = existsSync(REAL) && has('python3');
const LIST = new URL('./list.py', import.meta.url).pathname;

/** The capability value as Python's tarfile reads it from the raw PAX record. */
function pythonXattr(path: string, name: string): Buffer {
  const script = `import tarfile,sys\nm=tarfile.open(sys.argv[1]).getmembers()[0]\nsys.stdout.buffer.write(m.pax_headers['SCHILY.xattr.${name}'].encode('utf-8','surrogateescape'))`;
  return run('python3', ['-c', script, path]);
}

describe.skipIf(!have)('real layers', () => {
  it('moby/layer.tar: the binary security.capability xattr is byte-exact', async () => {
    const path = join(REAL, 'moby/layer.tar');
    const [e, ...rest] = await readAll(readFileSync(path));
    expect(rest).toEqual([]);
    expect(e!.header).toMatchObject({ name: 'file', type: 'file', size: 0 });
    const cap = e!.header.xattrs.get('security.capability');
    expect(Buffer.isBuffer(cap)).toBe(true);
    const want = pythonXattr(path, 'security.capability');
    expect(want.length).toBe(20);
    expect(want.includes(0xc0)).toBe(true); // not UTF-8: a decoder would have mangled it
    expect(cap!.equals(want)).toBe(true);
    // GNU tar agrees, through the file system, where security.* can be set.
    await withTmp(async (tmp) => {
      const out = join(tmp, 'x');
      mkdirSync(out);
      try {
        run('tar', ['--xattrs', '--xattrs-include=*', '-xf', path, '-C', out]);
      } catch {
        return; // no privilege for security.* here
      }
      const hex = run('getfattr', ['--absolute-names', '-n', 'security.capability', '-e', 'hex', join(out, 'file')]).toString();
      expect(hex).toContain(`security.capability=0x${cap!.toString('hex')}`);
    });
  });

  it('claircore/whiteout_opaque.layer (GNU format): the opaque marker and the decoy', async () => {
    const back = await readAll(readFileSync(join(REAL, 'claircore/whiteout_opaque.layer')), { chunk: 512 });
    expect(back.map((e) => [e.header.name, e.header.type])).toEqual([
      ['a/', 'dir'],
      ['a/.wh..wh..opq', 'file'],
      ['b/', 'dir'],
      ['b/not.a.wh..wh..opq', 'file'],
    ]);
    expect(back[1]!.header.uname).toBe('crozzy');
  });

  it('container-diff/la-croix-wh.tar: PAX atime records are dropped', async () => {
    const back = await readAll(readFileSync(join(REAL, 'container-diff/la-croix-wh.tar')));
    const names = back.map((e) => e.header.name);
    expect(names).toContain('.wh.lime.txt');
    expect(names).toContain('.wh.nest');
    for (const e of back) expect(e.header.pax.has('atime')).toBe(false);
  });

  it('every real tar, and every layer inside, lists as Python tarfile lists it', async () => {
    const files = [
      'claircore/whiteout.layer',
      'claircore/whiteout_opaque.layer',
      'container-diff/la-croix-wh.tar',
      'container-diff/la-croix1.tar',
      'container-diff/la-croix2.tar',
      'dive/test-docker-image.tar',
      'dive/test-oci-gzip-image.tar',
      'dive/test-oci-uncompressed-image.tar',
      'dive/test-oci-zstd-image.tar',
      'go-containerregistry/hello-world-v25.tar',
      'go-containerregistry/whiteout_dir.tar',
      'go-containerregistry/whiteout_image.tar',
      'moby/layer.tar',
      'regclient/layer-wh.tar',
      'regclient/layer.tar',
      'sarus/saved_image_malicious.tar',
      'trivy/test.tar',
    ].map((f) => join(REAL, f));
    const want = JSON.parse(run('python3', [LIST, ...files]).toString()) as Record<string, [string, string, number][]>;
    const list = (entries: { name: string; type: string; size: number }[]): [string, string, number][] =>
      entries.map((h) => [h.type === 'dir' ? h.name.replace(/\/+$/, '') : h.name, h.type, h.size]);
    let nested = 0;
    let zstdLayers = 0;
    for (const path of files) {
      const outer: { name: string; type: string; size: number }[] = [];
      for await (const e of readTar(chunked(readFileSync(path), 8192), { name: path })) {
        outer.push(e.header);
        if (e.header.type !== 'file' || e.header.size < 512) continue;
        const key = `${path}!${e.header.name}`;
        // Read the inner layer straight from the outer body, decompressing as it streams.
        const body = await collect(e.body);
        const isZstd = body[0] === 0x28 && body[1] === 0xb5;
        if (!(key in want) && !isZstd) continue;
        const inner: { name: string; type: string; size: number }[] = [];
        try {
          for await (const i of readTar(decompress(chunked(body, 5000)), { name: key })) inner.push(i.header);
        } catch (err) {
          if (isZstd && !(key in want)) continue; // a zstd blob that is not a tar (Python cannot tell us)
          throw err;
        }
        if (key in want) {
          expect(list(inner), key).toEqual(want[key]);
          nested++;
        } else {
          // Python's tarfile has no zstd here: decompress with zstd(1) first.
          const plain = run('zstd', ['-d', '-c', '-q'], { input: body });
          expect(list(inner), key).toEqual(JSON.parse(run('python3', [LIST, '-'], { input: plain }).toString()));
          zstdLayers++;
        }
      }
      expect(list(outer), path).toEqual(want[path]);
    }
    expect(nested).toBeGreaterThan(20);
    expect(zstdLayers).toBeGreaterThan(0);
  });
});
