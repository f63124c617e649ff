import { describe, expect, it } from 'vitest';
import { WhiteoutError } from '../../src/errors.js';
import { digestPassThrough } from '../../src/tar/digest.js';
import { encodeHeader } from '../../src/tar/header.js';
import { encodePax } from '../../src/tar/pax.js';
import { readTar } from '../../src/tar/read.js';
import { chunked, collect, file, fixChecksum, hdr, patchBlock, readAll, rejection, writeAll } from './util.js';

/** One raw header block with the given typeflag, name and size field. */
function block(typeflag: string, name: string, size: number): Buffer {
  const b = Buffer.from(encodeHeader(hdr({ name: 'placeholder' })));
  b.fill(0, 0, 100);
  b.write(name, 0, 100, 'latin1');
  b.write(typeflag, 156, 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  fixChecksum(b);
  return b;
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** A raw extension header (x, g, L, K) with its data. */
function ext(typeflag: string, data: Buffer): Buffer {
  return Buffer.concat([block(typeflag, 'ext', data.length), padded(data)]);
}

const END = Buffer.alloc(1024);

async function inputError(tar: Buffer, chunk = 512, limits?: { maxHeaderBytes: number }): Promise<WhiteoutError> {
  const e = await rejection(readAll(tar, { chunk, name: 'layer.tar', ...(limits ? { limits } : {}) }));
  expect(e).toBeInstanceOf(WhiteoutError);
  const w = e as WhiteoutError;
  expect(w.what).toBe('layer.tar');
  expect(w.message).not.toContain('\n');
  return w;
}

describe('readTar on bad input', () => {
  it('reports a checksum mismatch with the offset of the block', async () => {
    const tar = await writeAll([file('a', 'x'), file('b', 'y')]);
    tar[1029] = tar[1029]! ^ 0x01; // second header
    const e = await inputError(tar);
    expect(e.code).toBe('input');
    expect(e.why).toBe('bad header checksum at offset 1024');
  });

  it('reports truncation at the offset where the stream ended, wherever it ends', async () => {
    const tar = await writeAll([file('n'.repeat(150), Buffer.alloc(1000, 1)), file('b', Buffer.alloc(600, 2))]);
    // tar: PAX header 0..512, PAX data 512..1024, header 1024..1536, body 1536..2560, header 2560..3072, body 3072..4096
    for (const cut of [1, 100, 511, 513, 800, 1100, 1535, 1536, 2000, 2559, 2600, 3071, 3072, 3500, 4095]) {
      for (const chunk of [7, 512, 100_000]) {
        const e = await inputError(tar.subarray(0, cut), chunk);
        expect(e.why).toBe(`truncated archive: unexpected end at offset ${cut}`);
      }
    }
  });

  it('accepts a clean end at a header boundary, with no trailer or one zero block', async () => {
    const tar = await writeAll([file('a', 'x'), file('b', 'y')]);
    expect((await readAll(tar.subarray(0, 2048))).map((e) => e.header.name)).toEqual(['a', 'b']);
    expect((await readAll(tar.subarray(0, 2560))).length).toBe(2);
    expect((await readAll(Buffer.alloc(0))).length).toBe(0);
  });

  it('reads nothing from a 10240-byte all-zero tar', async () => {
    expect(await readAll(Buffer.alloc(10240))).toEqual([]);
  });

  it('drains whatever follows the end marker so a digest sees every byte', async () => {
    const tar = Buffer.concat([await writeAll([file('a', 'x')]), Buffer.from('trailing junk that is not a tar header at all'), Buffer.alloc(9000, 0x41)]);
    const d = digestPassThrough(chunked(tar, 300));
    const names: string[] = [];
    for await (const e of readTar(d.stream)) names.push(e.header.name);
    expect(names).toEqual(['a']);
    expect(d.result().size).toBe(tar.length);
  });

  it('refuses a PAX header over the limit', async () => {
    const big = await writeAll([file('a', 'x', { xattrs: new Map([['user.big', Buffer.alloc(2 << 20)]]) })]);
    const e = await inputError(big, 65536);
    expect(e.code).toBe('limit');
    expect(e.why).toMatch(/PAX header at offset 0 is larger than the limit of 1048576 bytes/);
    const name = await writeAll([file('n'.repeat(300), 'x')]);
    expect((await inputError(name, 512, { maxHeaderBytes: 100 })).code).toBe('limit');
    expect((await readAll(name, { limits: { maxHeaderBytes: 400 } }))[0]!.header.name).toBe('n'.repeat(300));
  });

  it('refuses GNU long names over the limit, and reads them under it', async () => {
    const long = `${'L'.repeat(300)}\0`;
    const tar = Buffer.concat([ext('L', Buffer.from(long)), (await writeAll([file('short', 'x')]))]);
    expect((await readAll(tar))[0]!.header.name).toBe('L'.repeat(300));
    expect((await inputError(tar, 512, { maxHeaderBytes: 200 })).code).toBe('limit');
  });

  it.each(['D', 'M', 'N', 'V', 'Z', 'A'])("refuses the unsupported entry type '%s'", async (flag) => {
    const tar = Buffer.concat([await writeAll([file('ok', 'x')])]);
    const bad = Buffer.concat([tar.subarray(0, 1024), block(flag, 'odd', 0), END]);
    const e = await inputError(bad);
    expect(e.why).toBe(`unsupported tar entry type '${flag}' at offset 1024`);
  });

  it.each([512, 100_000])('with onUnknownType, tells of an unknown entry, skips its data (PAX size winning) and reads on (chunks of %i)', async (chunk) => {
    const ok = (await writeAll([file('ok', 'x')])).subarray(0, 1024);
    // The unknown entry's data is a whole header: a reader that took it as header-only would read it as an entry.
    const inner = (await writeAll([file('smuggled', 'y')])).subarray(0, 1024);
    const x = ext('x', encodePax([['size', Buffer.from(String(inner.length))]]));
    const after = await writeAll([file('after', 'z')]);
    const seen: unknown[] = [];
    const out: string[] = [];
    const src = Buffer.concat([ok, x, block('N', 'odd', 0), inner, block('\x01', 'ctl', 0), after]);
    for await (const e of readTar(chunked(src, chunk), { onUnknownType: (u) => seen.push(u) })) out.push(`${e.header.name}=${(await collect(e.body)).toString()}`);
    expect(out).toEqual(['ok=x', 'after=z']);
    expect(seen).toEqual([
      { flag: 'N', name: 'odd', offset: 1024 },
      { flag: '\\x01', name: 'ctl', offset: 1024 + x.length + 512 + inner.length },
    ]);
  });

  it('refuses a PAX header followed by the end of the archive', async () => {
    const x = ext('x', encodePax([['path', Buffer.from('a')]]));
    expect((await inputError(Buffer.concat([x, END]))).why).toMatch(/extension header at offset 0 is followed by the end of the archive at offset 1024/);
    expect((await inputError(x)).why).toMatch(/followed by the end of the archive/);
  });

  it('honours the PAX size over a lying ustar size (TARmageddon)', async () => {
    // The body hides a tar header: a reader that believes the ustar size (0)
    // would see an entry 'smuggled' that a Go reader never sees.
    const inner = await writeAll([file('smuggled', 'evil')]);
    const hidden = inner.subarray(0, 1024);
    const x = ext('x', encodePax([['size', Buffer.from(String(hidden.length))]]));
    const tar = Buffer.concat([x, block('0', 'outer', 0), hidden, await writeAll([file('after', 'ok')])]);
    const back = await readAll(tar);
    expect(back.map((e) => e.header.name)).toEqual(['outer', 'after']);
    expect(back[0]!.header.size).toBe(1024);
    expect(back[0]!.data.equals(hidden)).toBe(true);
    expect(back[1]!.data.toString()).toBe('ok');
  });

  it('refuses NUL bytes in PAX path and linkpath', async () => {
    for (const key of ['path', 'linkpath']) {
      const x = ext('x', encodePax([[key, Buffer.from('a\0b')]]));
      const e = await inputError(Buffer.concat([x, block('2', 'l', 0), END]));
      expect(e.why).toMatch(new RegExp(`NUL byte in ${key} record in PAX header at offset 0`));
    }
  });

  it('reports bad PAX records with their offset', async () => {
    const x = ext('x', Buffer.from('9 path=a\n99 bad\n'));
    expect((await inputError(Buffer.concat([x, block('0', 'a', 0), END]))).why).toMatch(/at offset 521$/);
  });

  it('ignores PAX global headers', async () => {
    const g = ext('g', encodePax([['path', Buffer.from('evil')], ['comment', Buffer.from('c')]]));
    const back = await readAll(Buffer.concat([g, await writeAll([file('a', 'x'), file('b', 'y')])]));
    expect(back.map((e) => e.header.name)).toEqual(['a', 'b']);
    expect(back[0]!.header.pax.size).toBe(0);
    expect(back[0]!.header.offset).toBe(1024);
  });

  it('reads v7 and contiguous typeflags, and a v7 directory by its slash', async () => {
    const tar = Buffer.concat([block('\0', 'dir/', 0), block('\0', 'f', 3), padded(Buffer.from('abc')), block('7', 'c', 0), END]);
    const back = await readAll(tar);
    expect(back.map((e) => [e.header.name, e.header.type])).toEqual([
      ['dir/', 'dir'],
      ['f', 'file'],
      ['c', 'file'],
    ]);
    expect(back[1]!.data.toString()).toBe('abc');
  });

  it('reads header-only types as carrying no data, whatever the size field says (as Go does)', async () => {
    const tar = Buffer.concat([block('2', 'sym', 700), await writeAll([file('next', 'x')])]);
    const back = await readAll(tar);
    expect(back.map((e) => [e.header.name, e.header.size])).toEqual([
      ['sym', 0],
      ['next', 1],
    ]);
  });

  it('reads LIBARCHIVE.xattr records, letting SCHILY.xattr win', async () => {
    const x = ext(
      'x',
      encodePax([
        ['LIBARCHIVE.xattr.user.a%3Db', Buffer.from(Buffer.from([0, 255, 1]).toString('base64'))],
        ['LIBARCHIVE.xattr.user.both', Buffer.from(Buffer.from('lib').toString('base64'))],
        ['SCHILY.xattr.user.both', Buffer.from('schily')],
        ['atime', Buffer.from('1.5')],
        ['ctime', Buffer.from('1.5')],
        ['hdrcharset', Buffer.from('BINARY')],
        ['SCHILY.fflags', Buffer.from('nodump')],
      ]),
    );
    const h = (await readAll(Buffer.concat([x, block('0', 'f', 0), END])))[0]!.header;
    expect(h.xattrs.get('user.a=b')).toEqual(Buffer.from([0, 255, 1]));
    expect(h.xattrs.get('user.both')!.toString()).toBe('schily');
    expect([...h.pax.keys()]).toEqual(['SCHILY.fflags']);
  });

  it('refuses a sparse map that does not match the stored data', async () => {
    const x = ext(
      'x',
      encodePax([
        ['GNU.sparse.map', Buffer.from('0,10,5,10')],
        ['GNU.sparse.size', Buffer.from('100')],
      ]),
    );
    const tar = Buffer.concat([x, block('0', 'sp', 20), padded(Buffer.alloc(20, 1)), END]);
    expect((await inputError(tar)).why).toMatch(/sparse map entries overlap/);
    const y = ext('x', encodePax([['GNU.sparse.major', Buffer.from('2')], ['GNU.sparse.minor', Buffer.from('0')]]));
    expect((await inputError(Buffer.concat([y, block('0', 'sp', 0), END]))).why).toMatch(/unsupported GNU sparse format 2.0/);
  });

  it('expands a PAX 0.1 sparse file', async () => {
    const x = ext(
      'x',
      encodePax([
        ['GNU.sparse.map', Buffer.from('10,3,200000,2')],
        ['GNU.sparse.size', Buffer.from('300000')],
        ['GNU.sparse.numblocks', Buffer.from('2')],
      ]),
    );
    const tar = Buffer.concat([x, block('0', 'sp', 5), padded(Buffer.from('abcde')), END]);
    const [e] = await readAll(tar);
    expect(e!.header).toMatchObject({ size: 300000, sparse: true, type: 'file' });
    const want = Buffer.alloc(300000);
    want.write('abc', 10);
    want.write('de', 200000);
    expect(e!.data.equals(want)).toBe(true);
  });

  it('does not hang on a header whose size points past the end', async () => {
    const tar = Buffer.concat([block('0', 'huge', 0o77777777777), Buffer.alloc(512)]);
    expect((await inputError(tar)).why).toBe('truncated archive: unexpected end at offset 1024');
  });

  it('patches fields in place (helper sanity)', () => {
    const b = block('0', 'a', 0);
    patchBlock(b, 0, 'b');
    expect(b.toString('latin1', 0, 1)).toBe('b');
  });

  it('reads nested tars streamed from an outer body', async () => {
    const inner = await writeAll([file('in/a', 'A'), file('in/b', Buffer.alloc(70_000, 3))]);
    const outer = await writeAll([file('layer.tar', inner), file('z', 'z')]);
    const names: string[] = [];
    for await (const e of readTar(chunked(outer, 4096))) {
      if (e.header.name === 'layer.tar') {
        for await (const i of readTar(e.body)) names.push(`${i.header.name}:${(await collect(i.body)).length}`);
      } else names.push(e.header.name);
    }
    expect(names).toEqual(['in/a:1', 'in/b:70000', 'z']);
  });
});
