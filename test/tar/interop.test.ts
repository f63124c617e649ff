/**
 * Cross-checks against independent implementations: tar-stream (both ways)
 * and GNU tar (both ways, with xattrs checked on disk by getfattr).
 */
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, symlinkSync, linkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import type { TarWriteEntry } from '../../src/tar/types.js';
import { collect, file, hdr, readAll, run, withTmp, writeAll } from './util.js';

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');

/** Every xattr of a path, as getfattr prints them (hex values). */
function xattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const text = run('getfattr', ['--absolute-names', '-h', '-d', '-m', '-', '-e', 'hex', path]).toString();
  for (const line of text.split('\n')) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line);
    if (m) out.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  return out;
}

function canSetSecurityXattr(dir: string): boolean {
  const p = join(dir, '.probe');
  writeFileSync(p, '');
  try {
    run('setfattr', ['-n', 'security.capability', '-v', `0x${capability.toString('hex')}`, p]);
    return true;
  } catch {
    return false;
  }
}

/** A sparse file: `size` bytes with `data` written at each offset, holes elsewhere. */
function sparseFile(path: string, size: number, writes: [number, string][]): Buffer {
  const fd = openSync(path, 'w');
  const want = Buffer.alloc(size);
  for (const [off, s] of writes) {
    writeSync(fd, Buffer.from(s), 0, s.length, off);
    want.write(s, off, 'latin1');
  }
  closeSync(fd);
  run('truncate', ['-s', String(size), path]);
  return want;
}

describe('tar-stream → readTar', () => {
  it('reads names, types, sizes, modes, links and bodies', async () => {
    const pack = tarStream.pack();
    const longName = `deep/${'x'.repeat(120)}/file.txt`;
    pack.entry({ name: 'dir/', type: 'directory', mode: 0o755, mtime: new Date(1_600_000_000_000) });
    pack.entry({ name: 'dir/a.txt', mode: 0o640, uid: 1000, gid: 1001, uname: 'alice', gname: 'staff', mtime: new Date(1_600_000_000_000) }, 'alpha');
    pack.entry({ name: longName, mode: 0o600 }, Buffer.alloc(3000, 9));
    pack.entry({ name: 'dir/sym', type: 'symlink', linkname: 'a.txt' });
    pack.entry({ name: 'dir/hard', type: 'link', linkname: 'dir/a.txt' });
    pack.entry({ name: 'dev/tty', type: 'character-device', devmajor: 5, devminor: 0, mode: 0o666 });
    pack.entry({ name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0 });
    pack.entry({ name: 'pipe', type: 'fifo' });
    pack.finalize();
    const tar = await collect(pack as AsyncIterable<Buffer>);
    const back = await readAll(tar, { chunk: 333 });
    expect(back.map((e) => [e.header.name, e.header.type, e.header.size])).toEqual([
      ['dir/', 'dir', 0],
      ['dir/a.txt', 'file', 5],
      [longName, 'file', 3000],
      ['dir/sym', 'symlink', 0],
      ['dir/hard', 'hardlink', 0],
      ['dev/tty', 'char', 0],
      ['dev/loop0', 'block', 0],
      ['pipe', 'fifo', 0],
    ]);
    expect(back[1]!.header).toMatchObject({ mode: 0o640, uid: 1000, gid: 1001, uname: 'alice', gname: 'staff', mtime: 1_600_000_000 });
    expect(back[1]!.data.toString()).toBe('alpha');
    expect(back[2]!.data.equals(Buffer.alloc(3000, 9))).toBe(true);
    expect(back[3]!.header.linkname).toBe('a.txt');
    expect(back[4]!.header.linkname).toBe('dir/a.txt');
    expect(back[5]!.header).toMatchObject({ devmajor: 5, devminor: 0, mode: 0o666 });
    expect(back[6]!.header).toMatchObject({ devmajor: 7, devminor: 0 });
  });
});

describe('writeTar → tar-stream', () => {
  it('is read back by tar-stream extract', async () => {
    const entries: TarWriteEntry[] = [
      { header: hdr({ name: 'd', type: 'dir', mode: 0o750 }) },
      file('d/f', 'content', { mode: 0o604, uid: 12, gid: 34, uname: 'u', gname: 'g' }),
      file('n'.repeat(200), Buffer.alloc(1025, 1)),
      file(`${'p'.repeat(120)}/${'q'.repeat(90)}`, 'prefixed'),
      { header: hdr({ name: 'd/s', type: 'symlink', linkname: 'f' }) },
      { header: hdr({ name: 'd/h', type: 'hardlink', linkname: 'd/f' }) },
      { header: hdr({ name: 'c', type: 'char', devmajor: 1, devminor: 5 }) },
      { header: hdr({ name: 'p', type: 'fifo' }) },
    ];
    const tar = await writeAll(entries);
    const ex = tarStream.extract();
    Readable.from([tar]).pipe(ex);
    const got: [string, string | null | undefined, number | undefined, number | undefined, string][] = [];
    for await (const e of ex) {
      const data = await collect(e as AsyncIterable<Buffer>);
      got.push([e.header.name, e.header.type, e.header.size, e.header.mode, data.toString('latin1')]);
      if (e.header.name === 'd/f') expect(e.header).toMatchObject({ uid: 12, gid: 34, uname: 'u', gname: 'g', mtime: new Date(1_700_000_000_000) });
      if (e.header.name === 'd/s' || e.header.name === 'd/h') expect(e.header.linkname).toBe(e.header.name === 'd/s' ? 'f' : 'd/f');
      if (e.header.name === 'c') expect(e.header).toMatchObject({ devmajor: 1, devminor: 5 });
    }
    expect(got).toEqual([
      ['d/', 'directory', 0, 0o750, ''],
      ['d/f', 'file', 7, 0o604, 'content'],
      ['n'.repeat(200), 'file', 1025, 0o644, Buffer.alloc(1025, 1).toString('latin1')],
      [`${'p'.repeat(120)}/${'q'.repeat(90)}`, 'file', 8, 0o644, 'prefixed'],
      ['d/s', 'symlink', 0, 0o644, ''],
      ['d/h', 'link', 0, 0o644, ''],
      ['c', 'character-device', 0, 0o644, ''],
      ['p', 'fifo', 0, 0o644, ''],
    ]);
  });
});

describe('GNU tar → readTar', () => {
  it.each(['gnu', 'pax'])('reads a --format=%s archive: long names, links, xattrs, sparse files', async (format) => {
    await withTmp(async (tmp) => {
      const src = join(tmp, 'src');
      const longDir = join(src, 'd'.repeat(90), 'e'.repeat(90));
      mkdirSync(longDir, { recursive: true });
      const longFile = join(longDir, `${'f'.repeat(120)}.txt`);
      writeFileSync(longFile, 'long name content');
      writeFileSync(join(src, 'plain.txt'), 'plain');
      writeFileSync(join(src, 'bin'), allBytes);
      symlinkSync(`../${'t'.repeat(150)}`, join(src, 'longlink'));
      symlinkSync('plain.txt', join(src, 'sym'));
      mkdirSync(join(src, 'hl'));
      writeFileSync(join(src, 'hl/one'), 'linked');
      linkSync(join(src, 'hl/one'), join(src, 'hl/two'));
      run('mkfifo', [join(src, 'fifo')]);
      run('setfattr', ['-n', 'user.bin', '-v', `0x${allBytes.toString('hex')}`, join(src, 'bin')]);
      const security = canSetSecurityXattr(tmp);
      if (security) run('setfattr', ['-n', 'security.capability', '-v', `0x${capability.toString('hex')}`, join(src, 'bin')]);
      // Sparse: a few data runs in 1 MiB, data at the very end, and one with
      // more than 4 runs so old GNU needs extension blocks.
      const sparse = sparseFile(join(src, 'sparse'), 1 << 20, [[4096, 'hello'], [512 * 1024, 'world'], [(1 << 20) - 3, 'end']]);
      const many = sparseFile(join(src, 'many'), 40 * 65536, Array.from({ length: 30 }, (_, i): [number, string] => [i * 65536 + 8192, `run${i}`]));
      const hole = sparseFile(join(src, 'hole'), 2 << 20, []);
      // 1960: a negative mtime (base-256 in GNU format, a PAX record in pax).
      writeFileSync(join(src, 'old.txt'), 'old');
      run('touch', ['-m', '-d', '@-315619200', join(src, 'old.txt')]);
      const tarPath = join(tmp, 'out.tar');
      const xattrFlags = format === 'pax' ? ['--xattrs', '--xattrs-include=*'] : [];
      // Ids past 7 octal digits: base-256 in GNU format, PAX records in pax.
      const owner = ['--owner=bob:3000000', '--group=staff:4000000'];
      run('tar', [`--format=${format}`, '-S', ...owner, ...xattrFlags, '-cf', tarPath, '-C', src, '.']);
      const back = await readAll(readFileSync(tarPath), { chunk: 10000 });
      const by = new Map(back.map((e) => [e.header.name.replace(/^\.\//, '').replace(/\/$/, ''), e]));
      const rel = longFile.slice(src.length + 1);
      expect(rel.length).toBeGreaterThan(256); // needs L / PAX in either format
      expect(by.get(rel)!.data.toString()).toBe('long name content');
      expect(by.get('plain.txt')!.header).toMatchObject({ type: 'file', size: 5, mode: lstatSync(join(src, 'plain.txt')).mode & 0o7777 });
      expect(by.get('plain.txt')!.header.mtime).toBeCloseTo(lstatSync(join(src, 'plain.txt')).mtimeMs / 1000, format === 'pax' ? 3 : -1);
      // GNU tar stores the second name it meets as a hard link to the first.
      const pair = [by.get('hl/one')!, by.get('hl/two')!];
      const first = pair.find((e) => e.header.type === 'file')!;
      const second = pair.find((e) => e.header.type === 'hardlink')!;
      expect(first.data.toString()).toBe('linked');
      expect(second.header.linkname).toBe(first.header.name);
      expect(by.get('sym')!.header).toMatchObject({ type: 'symlink', linkname: 'plain.txt' });
      for (const e of back) expect(e.header).toMatchObject({ uid: 3000000, gid: 4000000, uname: 'bob', gname: 'staff' });
      expect(by.get('old.txt')!.header.mtime).toBe(-315619200);
      expect(by.get('old.txt')!.data.toString()).toBe('old');
      expect(by.get('longlink')!.header.linkname).toBe(`../${'t'.repeat(150)}`);
      expect(by.get('fifo')!.header.type).toBe('fifo');
      expect(by.get('d'.repeat(90))!.header.type).toBe('dir');
      expect(by.get('bin')!.data.equals(allBytes)).toBe(true);
      if (format === 'pax') {
        expect(by.get('bin')!.header.xattrs.get('user.bin')!.equals(allBytes)).toBe(true);
        if (security) expect(by.get('bin')!.header.xattrs.get('security.capability')!.equals(capability)).toBe(true);
      }
      for (const [name, want] of [
        ['sparse', sparse],
        ['many', many],
        ['hole', hole],
      ] as const) {
        const e = by.get(name)!;
        expect(e.header).toMatchObject({ type: 'file', size: want.length, sparse: true });
        expect(e.data.equals(want)).toBe(true);
      }
    });
  });

  it('reads PAX sparse format 0.1', async () => {
    await withTmp(async (tmp) => {
      const want = sparseFile(join(tmp, 'sp'), 300_000, [[8192, 'abc'], [200_704, 'xyz']]);
      run('tar', ['--format=pax', '-S', '--sparse-version=0.1', '-cf', join(tmp, 'o.tar'), '-C', tmp, 'sp']);
      const raw = readFileSync(join(tmp, 'o.tar'));
      expect(raw.toString('latin1')).toContain('GNU.sparse.map=');
      const [e] = await readAll(raw, { chunk: 777 });
      expect(e!.header).toMatchObject({ name: 'sp', size: 300_000, sparse: true });
      expect(e!.data.equals(want)).toBe(true);
    });
  });
});

describe('writeTar → GNU tar', () => {
  it('is listed and extracted by GNU tar with content, links and xattrs intact', async () => {
    await withTmp(async (tmp) => {
      const security = canSetSecurityXattr(tmp);
      const longName = `top/${'a'.repeat(130)}/${'b'.repeat(130)}/leaf.txt`;
      const binName = 'top/\xff\xfe.bin';
      const xa = new Map([['user.bin', allBytes], ['user.text', Buffer.from('v')]]);
      if (security) xa.set('security.capability', capability);
      const entries: TarWriteEntry[] = [
        { header: hdr({ name: 'top', type: 'dir', mode: 0o755 }) },
        file('top/file.txt', 'hello', { mode: 0o640, uid: 3000000, gid: 5, mtime: 1600000000.5, xattrs: xa }),
        file(longName, 'deep'),
        file(binName, 'bytes'),
        { header: hdr({ name: 'top/sym', type: 'symlink', linkname: `${'z'.repeat(150)}` }) },
        { header: hdr({ name: 'top/hard', type: 'hardlink', linkname: 'top/file.txt' }) },
        { header: hdr({ name: 'top/fifo', type: 'fifo', mode: 0o600 }) },
        file('top/big', Buffer.alloc(300_000, 0x5a)),
      ];
      const tar = await writeAll(entries);
      const tarPath = join(tmp, 'ours.tar');
      writeFileSync(tarPath, tar);
      const listed = run('tar', ['--quoting-style=literal', '-tf', tarPath]).toString('latin1').split('\n').filter(Boolean);
      expect(listed).toEqual(['top/', 'top/file.txt', longName, binName, 'top/sym', 'top/hard', 'top/fifo', 'top/big']);
      const out = join(tmp, 'out');
      mkdirSync(out);
      run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '-xpf', tarPath, '-C', out]);
      const f = join(out, 'top/file.txt');
      expect(readFileSync(f, 'utf8')).toBe('hello');
      const st = lstatSync(f);
      expect(st.mode & 0o7777).toBe(0o640);
      expect(st.uid).toBe(3000000);
      expect(st.mtimeMs).toBe(1600000000500);
      const got = xattrs(f);
      expect(got.get('user.bin')).toEqual(allBytes);
      expect(got.get('user.text')).toEqual(Buffer.from('v'));
      if (security) expect(got.get('security.capability')).toEqual(capability);
      expect(readFileSync(join(out, longName), 'utf8')).toBe('deep');
      const names = readdirSync(Buffer.from(join(out, 'top')), { encoding: 'buffer' }).map((b) => b.toString('latin1'));
      expect(names).toContain('\xff\xfe.bin');
      expect(readlinkSync(join(out, 'top/sym'))).toBe('z'.repeat(150));
      expect(lstatSync(join(out, 'top/hard')).ino).toBe(st.ino);
      expect(lstatSync(join(out, 'top/fifo')).isFIFO()).toBe(true);
      expect(readFileSync(join(out, 'top/big')).equals(Buffer.alloc(300_000, 0x5a))).toBe(true);
      // And GNU tar's own compare finds nothing different.
      run('tar', ['--xattrs', '--xattrs-include=*', '-df', tarPath, '-C', out]);
    });
  });
});
