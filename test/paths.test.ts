import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WhiteoutError } from '../src/errors.js';
import { classifyName, display, normalizeName, whiteoutName } from '../src/paths.js';

/** The rule written out the slow way: what the fast path must agree with on every name. */
function reference(raw: string): string | Error {
  if (raw.includes('\0')) return new Error('NUL');
  const parts = raw.split('/').filter((c) => c !== '' && c !== '.');
  return parts.includes('..') ? new Error('..') : parts.join('/');
}

describe('normalizeName (SPEC §Names)', () => {
  it('agrees with the slow rule on any name made of separators, dots, NULs and letters', () => {
    const name = fc.array(fc.constantFrom('/', '.', '..', './', 'a', 'b.', '.wh.', '\0'), { maxLength: 12 }).map((p) => p.join(''));
    fc.assert(
      fc.property(name, (raw) => {
        const want = reference(raw);
        if (want instanceof Error) expect(() => normalizeName(raw, 'x')).toThrow(WhiteoutError);
        else expect(normalizeName(raw, 'x')).toBe(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('builds the message of an error only when there is one', () => {
    let built = 0;
    const what = () => `entry ${++built}`;
    expect(normalizeName('./etc/passwd', what)).toBe('etc/passwd');
    expect(built).toBe(0);
    expect(() => normalizeName('a/../b', what)).toThrow(/entry 1/);
  });

  it.each([
    ['/etc/passwd', 'etc/passwd'],
    ['./etc/passwd', 'etc/passwd'],
    ['////etc//passwd/', 'etc/passwd'],
    ['./', ''],
    ['.', ''],
    ['/', ''],
    ['a/./b', 'a/b'],
  ])('%s → %s', (raw, want) => {
    expect(normalizeName(raw, 'x')).toBe(want);
  });

  it.each(['../etc', 'a/../../b', 'a/..', '..'])('refuses %s', (raw) => {
    expect(() => normalizeName(raw, 'x')).toThrow(/'\.\.'/);
  });

  it('refuses NUL', () => {
    expect(() => normalizeName('a\0b', 'x')).toThrow(WhiteoutError);
  });

  it('keeps non-UTF-8 bytes exactly', () => {
    const raw = Buffer.from([0x61, 0xff, 0xfe, 0x2f, 0x62]).toString('latin1');
    expect(Buffer.from(normalizeName(raw, 'x'), 'latin1')).toEqual(Buffer.from([0x61, 0xff, 0xfe, 0x2f, 0x62]));
    expect(display(raw)).toContain('\ufffd');
  });
});

describe('classifyName (SPEC §Markers)', () => {
  it('reads whiteouts', () => {
    expect(classifyName('etc/.wh.passwd', 'x')).toEqual({ kind: 'whiteout', path: 'etc/passwd' });
    expect(classifyName('.wh.foo', 'x')).toEqual({ kind: 'whiteout', path: 'foo' });
    // A dotfile's whiteout: `.wh.` + `.baz`.
    expect(classifyName('a/.wh..baz', 'x')).toEqual({ kind: 'whiteout', path: 'a/.baz' });
  });
  it('reads opaque markers, at the root too', () => {
    expect(classifyName('a/b/.wh..wh..opq', 'x')).toEqual({ kind: 'opaque', dir: 'a/b' });
    expect(classifyName('.wh..wh..opq', 'x')).toEqual({ kind: 'opaque', dir: '' });
  });
  it('skips AUFS metadata', () => {
    expect(classifyName('.wh..wh.plnk', 'x').kind).toBe('aufs-meta');
    expect(classifyName('.wh..wh.plnk/123.456', 'x').kind).toBe('aufs-meta');
    expect(classifyName('.wh..wh..opqX', 'x').kind).toBe('aufs-meta');
  });
  it.each(['.wh.', 'a/.wh.', '.wh..', 'etc/.wh..', '.wh...', 'etc/.wh...'])('refuses %s', (p) => {
    expect(() => classifyName(p, 'x')).toThrow(/invalid whiteout name/);
  });
  it('refuses a whiteout name used as a directory', () => {
    expect(() => classifyName('.wh.etc/passwd', 'x')).toThrow(/directory component/);
  });
  it('treats names that only contain the marker as plain', () => {
    expect(classifyName('b/not.a.wh..wh..opq', 'x')).toEqual({ kind: 'plain', path: 'b/not.a.wh..wh..opq' });
    expect(classifyName('x.wh.y', 'x')).toEqual({ kind: 'plain', path: 'x.wh.y' });
  });
  it('builds marker names back', () => {
    expect(whiteoutName('a/b')).toBe('a/.wh.b');
    expect(whiteoutName('b')).toBe('.wh.b');
  });
});
