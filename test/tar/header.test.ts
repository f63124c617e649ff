import { describe, expect, it } from 'vitest';
import { WhiteoutError } from '../../src/errors.js';
import { encodeHeader, parseHeader, parseNumeric, planHeader } from '../../src/tar/header.js';
import { fixChecksum, hdr, patchBlock } from './util.js';

describe('header fields', () => {
  it('planHeader writes at any offset the bytes encodeHeader returns (the tar writer encodes into its batch)', () => {
    const xattrs = new Map([['user.k', Buffer.from('v')]]);
    for (const h of [hdr({ name: 'a.txt', size: 5 }), hdr({ name: `${'d/'.repeat(90)}f`, size: 3, xattrs, uid: 1 << 22 })]) {
      const want = encodeHeader(h);
      const plan = planHeader(h);
      expect(plan.length).toBe(want.length);
      const into = Buffer.alloc(plan.length + 700, 0);
      plan.writeInto(into, 333);
      expect(into.subarray(333, 333 + plan.length).equals(want)).toBe(true);
      expect(into.subarray(0, 333).every((b) => b === 0)).toBe(true);
    }
  });

  it('writes fixed-width, zero-padded, NUL-terminated octal fields and ustar magic', () => {
    const b = encodeHeader(hdr({ name: 'a.txt', size: 5, mode: 0o755, uid: 1000, gid: 100, mtime: 0o1234567, uname: 'u', gname: 'g' }));
    expect(b.length).toBe(512);
    expect(b.toString('latin1', 100, 108)).toBe('0000755\0');
    expect(b.toString('latin1', 108, 116)).toBe('0001750\0');
    expect(b.toString('latin1', 116, 124)).toBe('0000144\0');
    expect(b.toString('latin1', 124, 136)).toBe('00000000005\0');
    expect(b.toString('latin1', 136, 148)).toBe('00001234567\0');
    expect(b.toString('latin1', 257, 265)).toBe('ustar\u000000');
    expect(b.toString('latin1', 156, 157)).toBe('0');
    const h = parseHeader(b, 'x', 0);
    expect(h).toMatchObject({ format: 'ustar', name: 'a.txt', size: 5, mode: 0o755, uid: 1000, gid: 100, mtime: 0o1234567, uname: 'u', gname: 'g' });
  });

  it('is deterministic', () => {
    const h = hdr({ name: 'x'.repeat(300), mtime: 1.25, xattrs: new Map([['user.b', Buffer.from('2')], ['user.a', Buffer.from('1')]]) });
    expect(encodeHeader(h).equals(encodeHeader(h))).toBe(true);
    const text = encodeHeader(h).toString('latin1', 512, 1024);
    // path, mtime, then xattrs sorted by name
    expect(text.indexOf(' path=')).toBeLessThan(text.indexOf(' mtime='));
    expect(text.indexOf(' mtime=')).toBeLessThan(text.indexOf('user.a'));
    expect(text.indexOf('user.a')).toBeLessThan(text.indexOf('user.b'));
  });

  it('splits a long name at a slash into prefix and name, without PAX', () => {
    const name = `${'d'.repeat(150)}/${'f'.repeat(99)}`;
    const b = encodeHeader(hdr({ name }));
    expect(b.length).toBe(512);
    expect(b.toString('latin1', 345, 495)).toBe('d'.repeat(150));
    expect(parseHeader(b, 'x', 0).name).toBe(name);
  });

  it('uses PAX when no slash splits the name', () => {
    const b = encodeHeader(hdr({ name: 'f'.repeat(101) }));
    expect(b.length).toBe(512 * 3);
    expect(b[156 + 512 * 0]).toBe(0x78); // 'x'
    expect(b.toString('latin1', 0, 11)).toBe('PaxHeaders/');
  });

  it('adds a trailing slash to directories', () => {
    expect(parseHeader(encodeHeader(hdr({ name: 'dir', type: 'dir' })), 'x', 0).name).toBe('dir/');
  });

  it('writes mtime fractions with at most 9 digits and no trailing zeros', () => {
    const rec = (mtime: number): string => {
      const t = encodeHeader(hdr({ name: 'a', mtime })).toString('latin1', 512, 1024);
      return /mtime=([^\n]*)\n/.exec(t)![1]!;
    };
    expect(rec(1.5)).toBe('1.5');
    expect(rec(-1.25)).toBe('-1.25');
    expect(rec(-3)).toBe('-3');
    expect(rec(1700000000.123456)).toMatch(/^1700000000\.123456\d{0,3}$/);
  });

  it('parses base-256 numbers, positive and negative', () => {
    const b = encodeHeader(hdr({ name: 'a' }));
    // size 2^40 in base-256
    const size = Buffer.alloc(12);
    size[0] = 0x80;
    size.writeUIntBE(2 ** 40, 6, 6);
    patchBlock(b, 124, size);
    // mtime -1: all 0xff
    patchBlock(b, 136, Buffer.alloc(12, 0xff));
    // uid 2^31 in an 8-byte field
    const uid = Buffer.alloc(8);
    uid[0] = 0x80;
    uid.writeUInt32BE(2 ** 31, 4);
    patchBlock(b, 108, uid);
    const h = parseHeader(b, 'x', 0);
    expect(h.size).toBe(2 ** 40);
    expect(h.mtime).toBe(-1);
    expect(h.uid).toBe(2 ** 31);
  });

  it('rejects negative and unsafe base-256 sizes', () => {
    const neg = encodeHeader(hdr({ name: 'a' }));
    patchBlock(neg, 124, Buffer.alloc(12, 0xff));
    expect(() => parseHeader(neg, 'x', 0)).toThrow(/negative size/);
    const big = encodeHeader(hdr({ name: 'a' }));
    const v = Buffer.alloc(12, 0xff);
    v[0] = 0x80;
    patchBlock(big, 124, v);
    expect(() => parseHeader(big, 'x', 0)).toThrow(/size too large/);
  });

  it('tolerates leading spaces and space/NUL terminators in octal', () => {
    const b = Buffer.from('   755 \0', 'latin1');
    expect(parseNumeric(b, 0, 8, 'mode', 'x', 0)).toBe(0o755);
    expect(parseNumeric(Buffer.alloc(8), 0, 8, 'mode', 'x', 0)).toBe(0);
    expect(() => parseNumeric(Buffer.from('07x5\0\0\0\0'), 0, 8, 'mode', 'x', 0)).toThrow(WhiteoutError);
  });

  it('checks the checksum, and accepts the signed-char sum of old tars', () => {
    const b = encodeHeader(hdr({ name: 'caf\xe9\xe9\xe9', uname: 'x' }));
    const good = Buffer.from(b.subarray(b.length - 512));
    expect(parseHeader(good, 'x', 0).name).toBe('caf\xe9\xe9\xe9');
    const bad = Buffer.from(good);
    bad[10] = 0x41;
    try {
      parseHeader(bad, 'layer.tar', 1536);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(WhiteoutError);
      expect((e as WhiteoutError).why).toBe('bad header checksum at offset 1536');
    }
    // Signed sum: bytes ≥ 0x80 count negative.
    const signed = Buffer.from(good);
    signed.fill(0x20, 148, 156);
    let s = 0;
    for (const c of signed) s += c > 127 ? c - 256 : c;
    signed.write(`${s.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expect(parseHeader(signed, 'x', 0).name).toBe('caf\xe9\xe9\xe9');
  });

  it('reads GNU and v7 headers', () => {
    const gnu = encodeHeader(hdr({ name: 'n', uname: 'root' }));
    gnu.write('ustar  \0', 257, 'latin1');
    gnu.write('junk', 345, 'latin1'); // GNU keeps atime here, not a prefix
    fixChecksum(gnu);
    expect(parseHeader(gnu, 'x', 0)).toMatchObject({ format: 'gnu', name: 'n', uname: 'root' });
    const v7 = encodeHeader(hdr({ name: 'n', uname: 'root' }));
    v7.fill(0, 257, 512);
    fixChecksum(v7);
    expect(parseHeader(v7, 'x', 0)).toMatchObject({ format: 'v7', name: 'n', uname: '' });
  });

  it('refuses headers it cannot write', () => {
    expect(() => encodeHeader(hdr({ name: 'a\0b' }))).toThrow(WhiteoutError);
    expect(() => encodeHeader(hdr({ name: 'snow☃' }))).toThrow(/byte string/);
    expect(() => encodeHeader(hdr({ name: 'a', size: -1 }))).toThrow(WhiteoutError);
    expect(() => encodeHeader(hdr({ name: 'a', pax: new Map([['size', Buffer.from('1')]]) }))).toThrow(/set by the tar writer/);
    expect(() => encodeHeader(hdr({ name: 'a', xattrs: new Map([['user.a=b', Buffer.alloc(1)]]) }))).toThrow(WhiteoutError);
  });
});
