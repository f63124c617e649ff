/**
 * One crafted layer per finding of `check` (SPEC.md §16), built byte by byte
 * with the hostile-tar helpers so that nothing in our own writer stands in the
 * way. Each test asserts the rule id, the layer, the entry and the severity.
 */
import { describe, expect, it } from 'vitest';
import { lintLayerTar } from '../../src/check/layer-lint.js';
import type { Finding } from '../../src/check/finding.js';
import { RULES } from '../../src/check/rules.js';
import { resolveLimits } from '../../src/layer/limits.js';
import { base256, blockdev, chardev, dir, entry, file, hardlink, header, pax, symlink, tar } from '../helpers/hostile-tar.js';
import { brief, lintOne, lintStack } from './helpers.js';

const only = (fs: Finding[], rule: string) => brief(fs.filter((f) => f.rule === rule));

describe('check: a clean layer', () => {
  it('has no findings', async () => {
    const t = tar(
      dir('./'),
      dir('etc/'),
      file('etc/.wh.old'),
      file('etc/passwd', 'root:x:0:0'),
      hardlink('etc/passwd-', 'etc/passwd'),
      dir('usr/'),
      dir('usr/lib/'),
      symlink('lib', 'usr/lib'),
      symlink('usr/lib/up', '../../etc'),
      symlink('abs', '/etc/passwd'),
      chardev('dev-null', 1, 3),
    );
    expect(await lintOne(t)).toEqual([]);
  });
});

describe('check: names', () => {
  it("dotdot-name: a '..' component", async () => {
    const fs = await lintOne(tar(file('../x'), file('a/../../b')));
    expect(only(fs, 'dotdot-name')).toEqual([
      { rule: 'dotdot-name', layer: 0, entry: '/../x', severity: 'error' },
      { rule: 'dotdot-name', layer: 0, entry: '/a/../../b', severity: 'error' },
    ]);
  });

  it("absolute-name: a leading '/'", async () => {
    expect(brief(await lintOne(tar(file('/etc/x'))))).toEqual([{ rule: 'absolute-name', layer: 0, entry: '/etc/x', severity: 'error' }]);
  });

  it('root-not-dir: the root as a symlink', async () => {
    expect(brief(await lintOne(tar(symlink('.', '/host'))))).toEqual([{ rule: 'root-not-dir', layer: 0, entry: '/', severity: 'error' }]);
  });

  it('non-utf8-name', async () => {
    const fs = await lintOne(tar(file(Buffer.from([0x61, 0xff, 0x62]))));
    expect(brief(fs)).toEqual([{ rule: 'non-utf8-name', layer: 0, entry: '/a\ufffdb', severity: 'warning' }]);
  });
});

describe('check: markers', () => {
  it("bare-whiteout: '.wh.', '.wh..', '.wh...'", async () => {
    const fs = await lintOne(tar(file('.wh.'), file('a/.wh..'), file('a/.wh...')));
    expect(brief(fs)).toEqual([
      { rule: 'bare-whiteout', layer: 0, entry: '/.wh.', severity: 'error' },
      { rule: 'bare-whiteout', layer: 0, entry: '/a/.wh..', severity: 'error' },
      { rule: 'bare-whiteout', layer: 0, entry: '/a/.wh...', severity: 'error' },
    ]);
  });

  it("whiteout-dir-component: '.wh.etc/passwd'", async () => {
    expect(brief(await lintOne(tar(file('.wh.etc/passwd'))))).toEqual([{ rule: 'whiteout-dir-component', layer: 0, entry: '/.wh.etc/passwd', severity: 'error' }]);
  });

  it('aufs-meta: AUFS bookkeeping', async () => {
    const fs = await lintOne(tar(dir('.wh..wh.plnk/'), file('.wh..wh.plnk/123.456')));
    expect(only(fs, 'aufs-meta')).toEqual([
      { rule: 'aufs-meta', layer: 0, entry: '/.wh..wh.plnk', severity: 'warning' },
      { rule: 'aufs-meta', layer: 0, entry: '/.wh..wh.plnk/123.456', severity: 'warning' },
    ]);
  });

  it('whiteout-content: a whiteout with bytes', async () => {
    expect(brief(await lintOne(tar(file('.wh.a', 'secret'))))).toEqual([{ rule: 'whiteout-content', layer: 0, entry: '/.wh.a', severity: 'error' }]);
  });

  it('whiteout-type: a whiteout stored as a symlink, a directory, a device', async () => {
    const fs = [...(await lintOne(tar(symlink('.wh.a', 'x'), chardev('.wh.b', 0, 0)))), ...(await lintOne(tar(dir('.wh..wh..opq/'))))];
    expect(brief(fs)).toEqual([
      { rule: 'whiteout-type', layer: 0, entry: '/.wh.a', severity: 'warning' },
      { rule: 'whiteout-type', layer: 0, entry: '/.wh.b', severity: 'warning' },
      { rule: 'whiteout-type', layer: 0, entry: '/.wh..wh..opq', severity: 'warning' },
    ]);
  });
});

describe('check: the layer rules', () => {
  it('whiteout-after-entry: a whiteout of a path added earlier in the same layer', async () => {
    const fs = (await lintOne(tar(file('a', 'new'), file('.wh.a')))).filter((f) => f.rule !== 'whiteout-order');
    expect(brief(fs)).toEqual([{ rule: 'whiteout-after-entry', layer: 0, entry: '/.wh.a', severity: 'error' }]);
    expect(fs[0]!.offset).toBe(1024);
    // Also when the path was only implied by an entry below it.
    expect(only(await lintOne(tar(file('d/x'), file('.wh.d'))), 'whiteout-after-entry')).toHaveLength(1);
  });

  it('whiteout-same-layer: a whiteout first, then the same layer adds the path', async () => {
    const fs = await lintOne(tar(file('.wh.a'), file('a/baz')));
    expect(brief(fs)).toEqual([{ rule: 'whiteout-same-layer', layer: 0, entry: '/.wh.a', severity: 'warning' }]);
    expect(brief(await lintOne(tar(file('.wh.f'), file('f'))))).toEqual([{ rule: 'whiteout-same-layer', layer: 0, entry: '/.wh.f', severity: 'warning' }]);
  });

  it('redundant-marker: a whiteout inside an opaque directory of its layer', async () => {
    const fs = await lintOne(tar(dir('d/'), file('d/.wh..wh..opq'), file('d/.wh.x')));
    expect(brief(fs)).toEqual([{ rule: 'redundant-marker', layer: 0, entry: '/d/.wh.x', severity: 'info' }]);
  });

  it('whiteout-order: a whiteout after its siblings', async () => {
    const fs = await lintOne(tar(dir('d/'), file('d/b'), file('d/.wh.a'), file('d/sub/x'), file('d/.wh..wh..opq')));
    expect(only(fs, 'whiteout-order')).toEqual([
      { rule: 'whiteout-order', layer: 0, entry: '/d/.wh.a', severity: 'warning' },
      { rule: 'whiteout-order', layer: 0, entry: '/d/.wh..wh..opq', severity: 'warning' },
    ]);
  });

  it('duplicate-entry: two entries for one path', async () => {
    const fs = await lintOne(tar(file('a', '1'), file('b'), file('a', '2')));
    expect(brief(fs)).toEqual([{ rule: 'duplicate-entry', layer: 0, entry: '/a', severity: 'error' }]);
    expect(fs[0]!.offset).toBe(1536);
    expect(fs[0]!.message).toMatch(/first is at offset 0/);
  });

  it('path-conflict: a path both a non-directory and a directory in one layer', async () => {
    expect(brief(await lintOne(tar(file('a'), file('a/b'))))).toEqual([{ rule: 'path-conflict', layer: 0, entry: '/a/b', severity: 'error' }]);
    expect(only(await lintOne(tar(dir('a/'), file('a/b'), file('a'))), 'path-conflict')).toEqual([{ rule: 'path-conflict', layer: 0, entry: '/a', severity: 'error' }]);
  });
});

describe('check: image-level rules (a stack, bottom first)', () => {
  it('whiteout-hides-nothing: no lower layer has the path', async () => {
    const fs = await lintStack(tar(file('x')), tar(file('.wh.x'), file('.wh.y'), file('gone/.wh.z')));
    expect(brief(fs)).toEqual([
      { rule: 'whiteout-hides-nothing', layer: 1, entry: '/.wh.y', severity: 'warning' },
      { rule: 'whiteout-hides-nothing', layer: 1, entry: '/gone/.wh.z', severity: 'warning' },
    ]);
    // In the bottom layer every whiteout hides nothing.
    expect(brief(await lintStack(tar(file('.wh.a'))))).toEqual([{ rule: 'whiteout-hides-nothing', layer: 0, entry: '/.wh.a', severity: 'warning' }]);
  });

  it('a whiteout of a path deleted by a layer in between hides nothing', async () => {
    const fs = await lintStack(tar(dir('d/'), file('d/f')), tar(file('.wh.d')), tar(file('d/.wh.f')));
    expect(brief(fs)).toEqual([{ rule: 'whiteout-hides-nothing', layer: 2, entry: '/d/.wh.f', severity: 'warning' }]);
  });

  it('opaque-hides-nothing: an opaque marker on a directory no lower layer has', async () => {
    const fs = await lintStack(tar(dir('old/'), file('old/f')), tar(dir('old/'), file('old/.wh..wh..opq'), dir('new/'), file('new/.wh..wh..opq')));
    expect(brief(fs)).toEqual([{ rule: 'opaque-hides-nothing', layer: 1, entry: '/new/.wh..wh..opq', severity: 'info' }]);
  });

  it('path-through-symlink: an entry below a lower layer symlink, and below a symlink of its own layer', async () => {
    // Reported once: the first entry makes /etc a directory of the layer, and the rest are inside it.
    const lower = await lintStack(tar(symlink('etc', '/host/etc')), tar(file('etc/passwd'), file('etc/shadow')));
    expect(brief(lower)).toEqual([{ rule: 'path-through-symlink', layer: 1, entry: '/etc/passwd', severity: 'error' }]);
    // A whiteout through a lower symlink: containerd resolves it inside the root and deletes what the link points at.
    const wh = await lintStack(tar(symlink('etc', '/host/etc')), tar(file('etc/.wh.group')));
    expect(only(wh, 'path-through-symlink')).toEqual([{ rule: 'path-through-symlink', layer: 1, entry: '/etc/.wh.group', severity: 'error' }]);
    const same = await lintOne(tar(symlink('l', '/tmp'), file('l/x')));
    expect(brief(same)).toEqual([{ rule: 'path-through-symlink', layer: 0, entry: '/l/x', severity: 'error' }]);
  });

  it('dir-over-symlink: a directory entry over a lower symlink (sarus)', async () => {
    const fs = await lintStack(tar(symlink('m', '/tmp')), tar(dir('m/'), file('m/f')));
    expect(brief(fs)).toEqual([{ rule: 'dir-over-symlink', layer: 1, entry: '/m', severity: 'warning' }]);
  });

  it('a path recreated over a whiteout in a later layer is not a finding', async () => {
    expect(await lintStack(tar(dir('a/'), file('a/foo')), tar(file('.wh.a')), tar(dir('a/'), file('a/baz')))).toEqual([]);
  });
});

describe('check: links, devices, xattrs, tar features', () => {
  it('symlink-escape: a relative target above the root', async () => {
    const fs = await lintOne(tar(symlink('a/l', '../../etc/passwd'), symlink('a/ok', '../b'), symlink('abs', '/../../etc')));
    expect(brief(fs)).toEqual([{ rule: 'symlink-escape', layer: 0, entry: '/a/l', severity: 'warning' }]);
  });

  it('hardlink-outside: to nothing in the layer, to a later entry, out with ..', async () => {
    const fs = await lintOne(tar(hardlink('h1', 'usr/bin/perl'), hardlink('h2', 'later'), file('later'), hardlink('h3', '../etc/passwd')));
    expect(brief(fs)).toEqual([
      { rule: 'hardlink-outside', layer: 0, entry: '/h1', severity: 'error' },
      { rule: 'hardlink-outside', layer: 0, entry: '/h2', severity: 'error' },
      { rule: 'hardlink-outside', layer: 0, entry: '/h3', severity: 'error' },
    ]);
  });

  it('hardlink-to-dir', async () => {
    expect(brief(await lintOne(tar(dir('d/'), hardlink('h', 'd'))))).toEqual([{ rule: 'hardlink-to-dir', layer: 0, entry: '/h', severity: 'error' }]);
  });

  it('overlay-xattr: overlay xattrs inside the layer', async () => {
    const fs = await lintOne(
      tar(pax([['SCHILY.xattr.trusted.overlay.opaque', 'y']]), dir('d/'), pax([['SCHILY.xattr.user.overlay.redirect', '/x']]), file('f'), pax([['SCHILY.xattr.user.mime', 'x']]), file('g')),
    );
    expect(brief(fs)).toEqual([
      { rule: 'overlay-xattr', layer: 0, entry: '/d', severity: 'error' },
      { rule: 'overlay-xattr', layer: 0, entry: '/f', severity: 'error' },
    ]);
  });

  it('overlay-whiteout-device: a 0/0 character device in an OCI layer', async () => {
    expect(brief(await lintOne(tar(chardev('gone', 0, 0))))).toEqual([{ rule: 'overlay-whiteout-device', layer: 0, entry: '/gone', severity: 'error' }]);
  });

  it('device-range: numbers Linux cannot hold', async () => {
    const fs = await lintOne(tar(chardev('c', 5000, 1), blockdev('b', 8, 1_048_576), chardev('big', base256(1n << 32n, 8), 0), blockdev('ok', 4095, 1_048_575)));
    expect(brief(fs)).toEqual([
      { rule: 'device-range', layer: 0, entry: '/c', severity: 'error' },
      { rule: 'device-range', layer: 0, entry: '/b', severity: 'error' },
      { rule: 'device-range', layer: 0, entry: '/big', severity: 'error' },
    ]);
  });

  it('sparse-file', async () => {
    const x = pax([
      ['GNU.sparse.map', '10,3,200000,2'],
      ['GNU.sparse.size', '300000'],
      ['GNU.sparse.numblocks', '2'],
    ]);
    const fs = await lintOne(tar(x, entry({ name: 'sp', typeflag: '0' }, 'abcde')));
    expect(brief(fs)).toEqual([{ rule: 'sparse-file', layer: 0, entry: '/sp', severity: 'warning' }]);
  });
});

describe('check: a broken or hostile layer is read as far as it goes, every finding listed', () => {
  it('truncated: the findings before the cut, then the cut', async () => {
    const whole = tar(file('/abs'), file('a', 'x'.repeat(2000)));
    const fs = await lintOne(whole.subarray(0, 1024 + 700));
    expect(brief(fs)).toEqual([
      { rule: 'absolute-name', layer: 0, entry: '/abs', severity: 'error' },
      { rule: 'truncated', layer: 0, severity: 'error' },
    ]);
  });

  it('bad-tar: a bad checksum', async () => {
    const fs = await lintOne(Buffer.concat([file('.wh.'), header({ name: 'x', checksum: 'bad' }), Buffer.alloc(1024)]));
    expect(brief(fs)).toEqual([
      { rule: 'bare-whiteout', layer: 0, entry: '/.wh.', severity: 'error' },
      { rule: 'bad-tar', layer: 0, severity: 'error' },
    ]);
    expect(fs[1]!.offset).toBe(512);
  });

  it('unknown-type: an entry of an unknown type flag is skipped by its size, and the pass goes on', async () => {
    // Its data looks like a header of a '..' name: a reader that did not skip it would report that.
    const smuggled = tar(file('../smuggled', 'x'));
    const fs = await lintOne(tar(entry({ name: 'n', typeflag: 'N' }, smuggled), file('/abs'), entry({ name: 'v', typeflag: 0x01 })));
    expect(brief(fs)).toEqual([
      { rule: 'unknown-type', layer: 0, entry: '/n', severity: 'error' },
      { rule: 'absolute-name', layer: 0, entry: '/abs', severity: 'error' },
      { rule: 'unknown-type', layer: 0, entry: '/v', severity: 'error' },
    ]);
    expect(fs[0]!.offset).toBe(0);
    expect(fs[0]!.message).toMatch(/type flag 'N'/);
    expect(fs[2]!.message).toMatch(/type flag '\\x01'/);
  });

  it('limit: a layer over --max-entries stops with a finding', async () => {
    const out: Finding[] = [];
    const t = tar(file('a'), file('b'), file('c'));
    await lintLayerTar((async function* () {
      yield t;
    })(), { layer: { index: 4 }, what: 'l', limits: resolveLimits({ maxEntries: 2 }), report: (f) => out.push(f) });
    expect(brief(out)).toEqual([{ rule: 'limit', layer: 4, severity: 'error' }]);
  });

  it('a layer with many problems reports every one of them, in tar order', async () => {
    const fs = await lintOne(tar(file('/etc/x'), file('../y'), file('.wh.'), file('.wh.z', 'data'), file('q'), file('q'), hardlink('h', 'nowhere'), chardev('w', 0, 0)));
    expect(fs.map((f) => f.rule)).toEqual(['absolute-name', 'dotdot-name', 'bare-whiteout', 'whiteout-content', 'whiteout-order', 'duplicate-entry', 'hardlink-outside', 'overlay-whiteout-device']);
    expect(fs.every((f) => f.spec === `SPEC.md ${RULES[f.rule].section}`)).toBe(true);
  });
});
