import { describe, expect, it } from 'vitest';
import { WhiteoutError } from '../../src/errors.js';
import { readTar } from '../../src/tar/read.js';
import { type ReadIntoBody, type TarHeader, type TarWriteEntry, takeWhole } from '../../src/tar/types.js';
import { bufferBody, writeTar } from '../../src/tar/write.js';
import { chunked, collect, file, from, hdr, readAll, rejection, writeAll } from './util.js';

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** One entry of every type, with metadata that exercises every field. */
function everyType(): TarWriteEntry[] {
  return [
    { header: hdr({ name: 'dir', type: 'dir', mode: 0o1755, uid: 1, gid: 2, uname: 'user', gname: 'group' }) },
    file('dir/file', 'hello world\n', { mode: 0o4755, mtime: 1234567890 }),
    file('dir/empty', ''),
    file('dir/big', Buffer.alloc(200_000, 7)),
    { header: hdr({ name: 'dir/link', type: 'hardlink', linkname: 'dir/file' }) },
    { header: hdr({ name: 'dir/sym', type: 'symlink', linkname: '../elsewhere', mode: 0o777 }) },
    { header: hdr({ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 }) },
    { header: hdr({ name: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o660 }) },
    { header: hdr({ name: 'dev/wh', type: 'char', devmajor: 0, devminor: 0, mode: 0 }) },
    { header: hdr({ name: 'fifo', type: 'fifo', mode: 0o600 }) },
  ];
}

function expected(e: TarWriteEntry): TarHeader {
  const h = e.header;
  return { ...h, name: h.type === 'dir' && !h.name.endsWith('/') ? `${h.name}/` : h.name };
}

async function body(e: TarWriteEntry): Promise<Buffer> {
  if (e.body === undefined) return Buffer.alloc(0);
  return Buffer.isBuffer(e.body) ? e.body : collect(e.body);
}

describe('writeTar → readTar', () => {
  it.each([1, 7, 511, 512, 513, 4096, 65536])('round-trips every entry type (source chunks of %i bytes)', async (chunk) => {
    const entries = everyType();
    const tar = await writeAll(entries);
    expect(tar.length % 512).toBe(0);
    expect(tar.subarray(tar.length - 1024).equals(Buffer.alloc(1024))).toBe(true);
    const back = await readAll(tar, { chunk });
    expect(back.length).toBe(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const { header, data } = back[i]!;
      const { offset, sparse, ...rest } = header;
      expect(rest).toEqual(expected(entries[i]!));
      expect(sparse).toBe(false);
      expect(typeof offset).toBe('number');
      expect(data.equals(await body(entries[i]!))).toBe(true);
    }
    // Offsets point at each entry's header block.
    expect(back[0]!.header.offset).toBe(0);
    expect(back[1]!.header.offset).toBe(512);
    expect(back[2]!.header.offset).toBe(1024 + 512);
  });

  it('stores a long name via the ustar prefix when a slash allows it (ustar holds at most 256 bytes)', async () => {
    const name = `${'p'.repeat(100)}/${'q'.repeat(49)}/${'r'.repeat(99)}`;
    expect(name.length).toBe(250);
    const tar = await writeAll([file(name, 'x')]);
    expect(tar.length).toBe(512 * 2 + 1024); // header + body block + trailer: no PAX
    expect((await readAll(tar))[0]!.header.name).toBe(name);
  });

  it('stores 300-byte names and 300-byte link targets via PAX', async () => {
    const name = 'n'.repeat(300);
    const link = `${'l'.repeat(200)}/${'m'.repeat(99)}`;
    const tar = await writeAll([file(name, 'data'), { header: hdr({ name: 'ln', type: 'symlink', linkname: link }) }]);
    expect(tar.toString('latin1')).toContain(`path=${name}\n`);
    const back = await readAll(tar, { chunk: 100 });
    expect(back[0]!.header.name).toBe(name);
    expect(back[0]!.data.toString()).toBe('data');
    expect(back[1]!.header.linkname).toBe(link);
  });

  it('keeps non-UTF-8 names byte for byte and marks them hdrcharset=BINARY', async () => {
    const name = 'bin/\xff\xfe.txt';
    const link = 'to/\xc3\x28';
    const tar = await writeAll([file(name, 'x'), { header: hdr({ name: 'l', type: 'symlink', linkname: link }) }]);
    const raw = tar.toString('latin1');
    expect(raw).toContain('hdrcharset=BINARY');
    expect(tar.includes(Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0xff, 0xfe]))).toBe(true);
    const back = await readAll(tar);
    expect(back[0]!.header.name).toBe(name);
    expect(Buffer.from(back[0]!.header.name, 'latin1').equals(Buffer.from([0x62, 0x69, 0x6e, 0x2f, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]))).toBe(true);
    expect(back[1]!.header.linkname).toBe(link);
  });

  it('writes valid UTF-8 non-ASCII names as a PAX path without hdrcharset', async () => {
    const name = Buffer.from('café/ü.txt', 'utf8').toString('latin1');
    const tar = await writeAll([file(name, 'x')]);
    expect(tar.toString('latin1')).not.toContain('hdrcharset');
    expect((await readAll(tar))[0]!.header.name).toBe(name);
  });

  it('round-trips binary xattr values and UTF-8 xattr names', async () => {
    const xattrs = new Map([
      ['security.capability', Buffer.from([0x01, 0x00, 0x00, 0x02, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])],
      ['user.all', allBytes],
      ['user.empty', Buffer.alloc(0)],
      ['user.名前', Buffer.from('\n=\0')],
    ]);
    const tar = await writeAll([file('f', 'x', { xattrs }), { header: hdr({ name: 'd', type: 'dir', xattrs: new Map([['trusted.overlay.opaque', Buffer.from('y')]]) }) }]);
    const back = await readAll(tar, { chunk: 3 });
    expect([...back[0]!.header.xattrs.keys()].sort()).toEqual([...xattrs.keys()].sort());
    for (const [k, v] of xattrs) {
      const got = back[0]!.header.xattrs.get(k)!;
      expect(Buffer.isBuffer(got)).toBe(true);
      expect(got.equals(v)).toBe(true);
    }
    expect(back[1]!.header.xattrs.get('trusted.overlay.opaque')!.toString()).toBe('y');
  });

  it('round-trips values beyond the ustar fields through PAX', async () => {
    const h = { uid: 2 ** 40, gid: 0o10000000, uname: 'u'.repeat(40), gname: 'g\xe9', devmajor: 2 ** 22, devminor: 2 ** 30 };
    const tar = await writeAll([
      file('a', 'x', { uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname, mtime: 1700000000.123456 }),
      { header: hdr({ name: 'dev', type: 'block', devmajor: h.devmajor, devminor: h.devminor }) },
      file('old', '', { mtime: -86400.5 }),
      file('future', '', { mtime: 2 ** 40 }),
    ]);
    const back = await readAll(tar);
    expect(back[0]!.header).toMatchObject({ uid: h.uid, gid: h.gid, uname: h.uname, gname: h.gname, mtime: 1700000000.123456 });
    expect(back[1]!.header).toMatchObject({ devmajor: h.devmajor, devminor: h.devminor });
    expect(back[2]!.header.mtime).toBe(-86400.5);
    expect(back[3]!.header.mtime).toBe(2 ** 40);
  });

  it('round-trips records of the pax map untouched', async () => {
    const pax = new Map([
      ['MSWINDOWS.rawsd', Buffer.from([0, 1, 2, 255])],
      ['comment', Buffer.from('hi')],
    ]);
    const back = await readAll(await writeAll([file('a', 'x', { pax })]));
    expect(back[0]!.header.pax).toEqual(pax);
  });

  it('is deterministic', async () => {
    expect((await writeAll(everyType())).equals(await writeAll(everyType()))).toBe(true);
  });

  it('writes a body handed over whole (a tar reader\'s, src/tar/types.ts InMemoryBody) in line, and checks its size', async () => {
    const whole = (b: Buffer) => {
      let taken = false;
      return {
        takeWhole: () => (taken ? undefined : ((taken = true), b)),
        async *[Symbol.asyncIterator]() {
          if (!taken) yield b;
        },
      };
    };
    const ok = await writeAll([{ header: hdr({ name: 'a', size: 6 }), body: whole(Buffer.from('abcdef')) }]);
    expect(ok.equals(await writeAll([{ header: hdr({ name: 'a', size: 6 }), body: Buffer.from('abcdef') }]))).toBe(true);
    const short = (await rejection(writeAll([{ header: hdr({ name: 'shrunk', size: 10 }), body: whole(Buffer.from('abc')) }]))) as WhiteoutError;
    expect(short.why).toBe('file changed size while being read: expected 10 bytes, got 3');
    const long = (await rejection(writeAll([{ header: hdr({ name: 'grew', size: 2 }), body: whole(Buffer.from('abc')) }]))) as WhiteoutError;
    expect(long.why).toMatch(/expected 2 bytes, got at least 3/);
  });

  it('accepts bodies as async iterables and checks their size', async () => {
    const good = await writeAll([{ header: hdr({ name: 'a', size: 6 }), body: from([Buffer.from('abc'), Buffer.from('def')]) }]);
    expect((await readAll(good))[0]!.data.toString()).toBe('abcdef');
    const short = rejection(writeAll([{ header: hdr({ name: 'shrunk', size: 10 }), body: bufferBody(Buffer.from('abc')) }]));
    const e = (await short) as WhiteoutError;
    expect(e).toBeInstanceOf(WhiteoutError);
    expect(e.what).toBe('shrunk');
    expect(e.why).toBe('file changed size while being read: expected 10 bytes, got 3');
    const long = (await rejection(writeAll([{ header: hdr({ name: 'grew', size: 2 }), body: Buffer.from('abc') }]))) as WhiteoutError;
    expect(long.why).toMatch(/expected 2 bytes, got at least 3/);
    const dirData = (await rejection(writeAll([{ header: hdr({ name: 'd', type: 'dir' }), body: Buffer.from('abc') }]))) as WhiteoutError;
    expect(dirData).toBeInstanceOf(WhiteoutError);
  });

  it('batches small outputs and passes large chunks through uncopied', async () => {
    const big = Buffer.alloc(1 << 20, 1);
    const entries: TarWriteEntry[] = [];
    for (let i = 0; i < 2000; i++) entries.push(file(`small/${i}`, `content ${i}`));
    entries.push({ header: hdr({ name: 'big', size: big.length }), body: from([big]) });
    const chunks: Buffer[] = [];
    for await (const c of writeTar(from(entries))) chunks.push(c);
    // 2000 small entries are 2 MB of tar: a few batches, not thousands of chunks.
    expect(chunks.length).toBeLessThan(20);
    expect(chunks.some((c) => c === big)).toBe(true);
    const back = await readAll(Buffer.concat(chunks));
    expect(back.length).toBe(2001);
    expect(back[1999]!.data.toString()).toBe('content 1999');
    expect(back[2000]!.data.equals(big)).toBe(true);
  });

  /** A body on "disk": `data` handed out in reads of at most `step` bytes, counting reads and closes. */
  function diskBody(data: Buffer, step: number): AsyncIterable<Buffer> & ReadIntoBody & { reads: number; closes: number } {
    let pos = 0;
    return {
      reads: 0,
      closes: 0,
      readInto(buf: Buffer, offset: number, length: number): number {
        this.reads++;
        const n = Math.min(length, step, data.length - pos);
        data.copy(buf, offset, pos, pos + n);
        pos += n;
        return n;
      },
      close() {
        this.closes++;
      },
      async *[Symbol.asyncIterator]() {
        throw new Error('a plain iterable of entries must be read with readInto, not as a stream');
      },
    };
  }

  it('reads bodies on disk straight into its batch: the same bytes as streaming them, each file closed once', async () => {
    const sizes = [0, 1, 511, 512, 70_000, (1 << 20) + 17, 3 << 20];
    const datas = sizes.map((n, i) => Buffer.from(Array.from({ length: n }, (_, j) => (i * 31 + j) % 253)));
    const streamed = await writeAll(datas.map((d, i) => file(`f${i}`, d)));
    const bodies = datas.map((d, i) => diskBody(d, [1 << 20, 4096, 100_003][i % 3]!));
    const direct = await collect(writeTar(bodies.map((b, i) => ({ header: hdr({ name: `f${i}`, size: sizes[i]! }), body: b }))));
    expect(direct.equals(streamed)).toBe(true);
    for (const b of bodies) expect(b.closes).toBe(1);
  });

  it('with reuse, fills one batch buffer again: the same bytes to a consumer that copies each chunk before the next', async () => {
    const sizes = [0, 3, 700_000, (1 << 20) + 5, 2_500_000, 10];
    const datas = sizes.map((n, i) => Buffer.from(Array.from({ length: n }, (_, j) => (i * 17 + j) % 251)));
    const streamed = await writeAll(datas.map((d, i) => file(`f${i}`, d)));
    const entries = () => datas.map((d, i) => ({ header: hdr({ name: `f${i}`, size: sizes[i]! }), body: diskBody(d, 65_536) }));
    const copies: Buffer[] = [];
    const backings = new Set<ArrayBufferLike>();
    for await (const c of writeTar(entries(), { reuse: true })) {
      copies.push(Buffer.from(c));
      backings.add(c.buffer);
    }
    expect(Buffer.concat(copies).equals(streamed)).toBe(true);
    // Several full batches, all from the one buffer.
    expect(copies.length).toBeGreaterThan(3);
    expect(backings.size).toBe(1);
    // Without reuse, every full batch is a buffer of its own.
    const fresh = new Set<ArrayBufferLike>();
    for await (const c of writeTar(entries())) fresh.add(c.buffer);
    expect(fresh.size).toBeGreaterThan(3);
  });

  it('fails a body on disk that grew or shrank, naming it, and closes it', async () => {
    const grew = diskBody(Buffer.alloc(600, 1), 1 << 20);
    const e1 = (await rejection(collect(writeTar([{ header: hdr({ name: 'grew', size: 500 }), body: grew }])))) as WhiteoutError;
    expect(e1).toBeInstanceOf(WhiteoutError);
    expect(e1.what).toBe('grew');
    expect(e1.why).toMatch(/expected 500 bytes, got at least 501/);
    expect(grew.closes).toBe(1);
    const shrank = diskBody(Buffer.alloc(300, 1), 128);
    const e2 = (await rejection(collect(writeTar([{ header: hdr({ name: 'shrank', size: 500 }), body: shrank }])))) as WhiteoutError;
    expect(e2.why).toBe('file changed size while being read: expected 500 bytes, got 300');
    expect(shrank.closes).toBe(1);
  });

  it('skips unread and half-read bodies', async () => {
    const tar = await writeAll([file('a', Buffer.alloc(100_000, 1)), file('b', Buffer.alloc(70_000, 2)), file('c', 'tail')]);
    const names: string[] = [];
    let tail = '';
    for await (const e of readTar(chunked(tar, 1000))) {
      names.push(e.header.name);
      if (e.header.name === 'b') {
        for await (const c of e.body) {
          expect(c.length).toBeLessThanOrEqual(1000);
          break; // stop early: the reader must skip the rest
        }
      }
      if (e.header.name === 'c') tail = (await collect(e.body)).toString();
    }
    expect(names).toEqual(['a', 'b', 'c']);
    expect(tail).toBe('tail');
  });

  it('refuses a body read after moving to the next entry', async () => {
    const tar = await writeAll([file('a', Buffer.alloc(5000, 1)), file('b', 'x')]);
    const it = readTar(chunked(tar, 512))[Symbol.asyncIterator]();
    const a = (await it.next()).value!;
    await it.next();
    await expect(collect(a.body)).rejects.toThrow(/after the next entry/);
    await it.return(undefined);
  });

  it('hands a body over whole when the chunk in hand holds it, and streams it otherwise', async () => {
    const entries = [file('small', 'hello'), file('big', Buffer.alloc(70_000, 3)), file('empty', ''), file('after', 'tail')];
    const tar = await writeAll(entries);
    for (const chunk of [7, 513, 65536, tar.length]) {
      const seen: [string, string, boolean][] = [];
      for await (const e of readTar(chunked(tar, chunk))) {
        const whole = takeWhole(e.body);
        // Taken whole, nothing is left to stream; not taken, the stream still has every byte.
        const data = whole ? Buffer.concat([whole, await collect(e.body)]) : await collect(e.body);
        seen.push([e.header.name, data.toString('latin1'), whole !== undefined]);
      }
      expect(seen.map(([n, d]) => [n, d.length])).toEqual([
        ['small', 5],
        ['big', 70_000],
        ['empty', 0],
        ['after', 4],
      ]);
      expect(seen[0]![1]).toBe('hello');
      expect(seen[3]![1]).toBe('tail');
      // A whole-file chunk holds every body; small chunks never hold the 70 KB one.
      if (chunk === tar.length) expect(seen.every(([, , w]) => w)).toBe(true);
      else expect(seen[1]![2]).toBe(false);
    }
  });

  it('refuses a body taken whole after moving to the next entry', async () => {
    const tar = await writeAll([file('a', 'abc'), file('b', 'x')]);
    const it = readTar(chunked(tar, tar.length))[Symbol.asyncIterator]();
    const a = (await it.next()).value!;
    await it.next();
    expect(() => takeWhole(a.body)).toThrow(/after the next entry/);
    await it.return(undefined);
  });

  it('closes the source when the consumer stops early', async () => {
    const tar = await writeAll([file('a', 'x'), file('b', 'y')]);
    let closed = false;
    async function* src(): AsyncGenerator<Buffer> {
      try {
        yield* chunked(tar, 512);
      } finally {
        closed = true;
      }
    }
    for await (const e of readTar(src())) {
      expect(e.header.name).toBe('a');
      break;
    }
    expect(closed).toBe(true);
  });
});
