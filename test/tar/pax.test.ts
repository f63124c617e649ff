import { describe, expect, it } from 'vitest';
import { WhiteoutError } from '../../src/errors.js';
import { encodePax, parsePax } from '../../src/tar/pax.js';

const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('PAX records', () => {
  it('round-trips binary values byte for byte', () => {
    const recs: [string, Buffer][] = [
      ['path', Buffer.from([0x61, 0xff, 0xfe, 0x2f, 0x62])],
      ['SCHILY.xattr.security.capability', all],
      ['SCHILY.xattr.user.empty', Buffer.alloc(0)],
      ['SCHILY.xattr.user.ünïcödé', Buffer.from('x=y\nz')],
    ];
    const m = parsePax(encodePax(recs), 'x', 0);
    expect([...m.keys()]).toEqual(recs.map(([k]) => k));
    for (const [k, v] of recs) expect(m.get(k)!.equals(v)).toBe(true);
  });

  it('counts the length prefix in its own length, across digit boundaries', () => {
    // Records of total length around 9/10, 99/100, 999/1000 bytes.
    for (let n = 0; n < 1100; n++) {
      const data = encodePax([['k', Buffer.alloc(n, 0x61)]]);
      const len = Number(data.toString('latin1', 0, data.indexOf(0x20)));
      expect(len).toBe(data.length);
      expect(parsePax(data, 'x', 0).get('k')!.length).toBe(n);
    }
  });

  it('matches the record layout of the standard', () => {
    expect(encodePax([['path', Buffer.from('a')]]).toString()).toBe('9 path=a\n');
    expect(encodePax([['mtime', Buffer.from('1.5')]]).toString()).toBe('13 mtime=1.5\n');
  });

  it('lets a later record win', () => {
    const m = parsePax(Buffer.from('9 path=a\n9 path=b\n'), 'x', 0);
    expect(m.get('path')!.toString()).toBe('b');
  });

  it('accepts NUL padding after the records but not garbage', () => {
    expect(parsePax(Buffer.concat([Buffer.from('9 path=a\n'), Buffer.alloc(20)]), 'x', 0).size).toBe(1);
    expect(() => parsePax(Buffer.from('9 path=a\n\0x'), 'x', 0)).toThrow(WhiteoutError);
  });

  it.each([
    ['length too long', '99 path=a\n'],
    ['length too short', '5 path=a\n'],
    ['no newline', '9 path=ab'],
    ['no =', '9 pathaa\n'],
    ['empty key', '6 =abc\n'],
    ['non-digit length', '9a path=\n'],
    ['no space', '9path=ab\n'],
    ['NUL in key', '9 pa\0h=a\n'],
    ['key not UTF-8', '9 pa\xffh=a\n'],
  ])('rejects a record with %s, naming the offset', (_why, text) => {
    try {
      parsePax(Buffer.from(text, 'latin1'), 'layer.tar', 1536);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(WhiteoutError);
      const w = e as WhiteoutError;
      expect(w.what).toBe('layer.tar');
      expect(w.code).toBe('input');
      expect(w.why).toMatch(/at offset 15\d\d$/);
    }
  });

  it('refuses keys it could not write back', () => {
    expect(() => encodePax([['a=b', Buffer.alloc(0)]])).toThrow(WhiteoutError);
    expect(() => encodePax([['', Buffer.alloc(0)]])).toThrow(WhiteoutError);
  });
});
