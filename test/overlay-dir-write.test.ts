import fs from 'node:fs';
import path from 'node:path';
import * as fsx from 'fs-xattr';
import { afterEach, describe, expect, it } from 'vitest';
import type { Entry } from '../src/entry.js';
import { writeOverlayDir } from '../src/overlay/dir-write.js';
import type { OverlayForm } from '../src/overlay/forms.js';
import { dir, file, hardlink, isRoot, opaque, stream, symlink, tempDir, whiteout } from './helpers/entries.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length) cleanups.pop()?.();
});

async function write(entries: Entry[], form: OverlayForm = { whiteouts: 'device', userxattr: false }, lowers?: string[]) {
  const t = tempDir();
  cleanups.push(t.cleanup);
  const root = path.join(t.dir, 'root');
  const work = path.join(t.dir, 'work');
  fs.mkdirSync(root);
  fs.mkdirSync(work);
  const stats = await writeOverlayDir(stream(entries), root, { form, workDir: work, what: 'test', ...(lowers ? { lowers } : {}) });
  return { root, stats, base: t.dir };
}

const xattr = (p: string, name: string) => {
  try {
    return fsx.getAttributeSync(p, name).toString('latin1');
  } catch {
    return undefined;
  }
};

function isWhiteoutDevice(p: string): boolean {
  const st = fs.lstatSync(p);
  return st.isCharacterDevice() && st.rdev === 0;
}

describe.runIf(isRoot)('overlay dir writer, device form (root)', () => {
  it('writes whiteouts as 0/0 devices sharing one inode, and opaque dirs as trusted.overlay.opaque=y', async () => {
    const { root, stats } = await write([dir('a'), whiteout('a/x'), whiteout('b'), dir('c'), opaque('c'), file('c/f', 'hi')]);
    expect(isWhiteoutDevice(path.join(root, 'a/x'))).toBe(true);
    expect(isWhiteoutDevice(path.join(root, 'b'))).toBe(true);
    expect(fs.lstatSync(path.join(root, 'b')).ino).toBe(fs.lstatSync(path.join(root, 'a/x')).ino);
    expect(xattr(path.join(root, 'c'), 'trusted.overlay.opaque')).toBe('y');
    expect(fs.readFileSync(path.join(root, 'c/f'), 'utf8')).toBe('hi');
    expect(stats.whiteouts).toBe(2);
    expect(stats.opaque).toBe(1);
  });

  it('the opaque marker applies wherever it stands and keeps same-layer content', async () => {
    const { root } = await write([dir('a'), file('a/keep', '1'), opaque('a')]);
    expect(xattr(path.join(root, 'a'), 'trusted.overlay.opaque')).toBe('y');
    expect(fs.readFileSync(path.join(root, 'a/keep'), 'utf8')).toBe('1');
  });

  it('a whiteout never removes an entry of its own layer', async () => {
    const { root } = await write([file('a', 'mine'), whiteout('a'), whiteout('b'), file('b', 'later')]);
    expect(fs.readFileSync(path.join(root, 'a'), 'utf8')).toBe('mine');
    expect(fs.readFileSync(path.join(root, 'b'), 'utf8')).toBe('later');
  });

  it('.wh.X followed by X/ makes X opaque, explicit or implied', async () => {
    const { root } = await write([whiteout('x'), dir('x'), file('x/f', '1'), whiteout('y'), file('y/g', '2')]);
    expect(xattr(path.join(root, 'x'), 'trusted.overlay.opaque')).toBe('y');
    expect(xattr(path.join(root, 'y'), 'trusted.overlay.opaque')).toBe('y');
  });

  it('drops whiteouts inside an opaque dir and below a whited-out dir', async () => {
    const { root } = await write([dir('d'), opaque('d'), whiteout('d/gone'), whiteout('foo'), whiteout('foo/bar')]);
    expect(fs.readdirSync(path.join(root, 'd'))).toEqual([]);
    expect(isWhiteoutDevice(path.join(root, 'foo'))).toBe(true);
  });

  it('keeps mode bits, owners and mtimes, directories last', async () => {
    const { root } = await write([
      dir('d', { mode: 0o1777, uid: 12, gid: 34, mtime: 1_600_000_000 }),
      file('d/s', 'x', { mode: 0o4755, uid: 5, gid: 6, mtime: 1_500_000_000 }),
      symlink('d/l', '/etc/passwd'),
    ]);
    const d = fs.lstatSync(path.join(root, 'd'));
    expect(d.mode & 0o7777).toBe(0o1777);
    expect([d.uid, d.gid]).toEqual([12, 34]);
    expect(d.mtimeMs).toBe(1_600_000_000_000);
    const s = fs.lstatSync(path.join(root, 'd/s'));
    expect(s.mode & 0o7777).toBe(0o4755);
    expect([s.uid, s.gid]).toEqual([5, 6]);
    expect(s.mtimeMs).toBe(1_500_000_000_000);
    expect(fs.readlinkSync(path.join(root, 'd/l'))).toBe('/etc/passwd');
  });

  it('never follows a symlink the layer planted: an entry below it replaces it with a directory', async () => {
    const t = tempDir('whiteout-victim-');
    cleanups.push(t.cleanup);
    const { root } = await write([symlink('esc', t.dir), file('esc/pwned', 'x')]);
    expect(fs.readdirSync(t.dir)).toEqual([]);
    expect(fs.lstatSync(path.join(root, 'esc')).isDirectory()).toBe(true);
    expect(fs.readFileSync(path.join(root, 'esc/pwned'), 'utf8')).toBe('x');
  });

  it('hardlinks stay hardlinks inside the layer and never reach outside', async () => {
    const { root } = await write([file('a', 'data'), hardlink('b', 'a')]);
    expect(fs.lstatSync(path.join(root, 'b')).ino).toBe(fs.lstatSync(path.join(root, 'a')).ino);
    const t = tempDir('whiteout-victim-');
    cleanups.push(t.cleanup);
    fs.writeFileSync(path.join(t.dir, 'secret'), 's');
    await expect(write([symlink('l', t.dir), hardlink('h', 'l/secret')])).rejects.toThrow(/not in this layer/);
  });

  it('escapes overlay xattrs a layer carries, so they are never live', async () => {
    const { root } = await write([dir('d', { xattrs: new Map([['trusted.overlay.opaque', Buffer.from('y')], ['user.overlay.redirect', Buffer.from('/x')]]) })]);
    expect(xattr(path.join(root, 'd'), 'trusted.overlay.opaque')).toBeUndefined();
    expect(xattr(path.join(root, 'd'), 'trusted.overlay.overlay.opaque')).toBe('y');
    expect(xattr(path.join(root, 'd'), 'user.overlay.overlay.redirect')).toBe('/x');
  });

  it('refuses a literal 0/0 character device', async () => {
    const dev: Entry = { kind: 'char', path: 'null0', meta: { mode: 0o600, uid: 0, gid: 0, mtime: 0, xattrs: new Map() }, major: 0, minor: 0 };
    await expect(write([dev])).rejects.toThrow(/would read as a whiteout/);
  });

  it('a root opaque marker needs the lowers', async () => {
    await expect(write([opaque(''), file('a', '1')])).rejects.toThrow(/layer root/);
  });

  it('with --lower, a root opaque marker whites out everything below', async () => {
    const lower = await write([file('old', '1'), dir('etc'), file('etc/x', '2')]);
    const { root } = await write([opaque(''), dir('etc'), file('new', '3')], undefined, [lower.root]);
    expect(isWhiteoutDevice(path.join(root, 'old'))).toBe(true);
    expect(xattr(path.join(root, 'etc'), 'trusted.overlay.opaque')).toBe('y');
    expect(fs.readFileSync(path.join(root, 'new'), 'utf8')).toBe('3');
  });

  it('implied parents copy the lower directory’s metadata when lowers are given', async () => {
    const lower = await write([dir('etc', { mode: 0o700, uid: 7, gid: 8, mtime: 1_234_567_890 })]);
    const { root } = await write([file('etc/new', 'x')], undefined, [lower.root]);
    const st = fs.lstatSync(path.join(root, 'etc'));
    expect(st.mode & 0o7777).toBe(0o700);
    expect([st.uid, st.gid]).toEqual([7, 8]);
    expect(st.mtimeMs).toBe(1_234_567_890_000);
  });
});

describe('overlay dir writer, unprivileged forms', () => {
  it('xattr form: zero-size files with user.overlay.whiteout, parent marked opaque=x', async () => {
    const { root } = await write([dir('a'), whiteout('a/x'), dir('o'), opaque('o')], { whiteouts: 'xattr', userxattr: true });
    const st = fs.lstatSync(path.join(root, 'a/x'));
    expect(st.isFile() && st.size === 0).toBe(true);
    expect(xattr(path.join(root, 'a/x'), 'user.overlay.whiteout')).toBe('');
    expect(xattr(path.join(root, 'a'), 'user.overlay.opaque')).toBe('x');
    expect(xattr(path.join(root, 'o'), 'user.overlay.opaque')).toBe('y');
  });

  it('aufs form: .wh. files on disk', async () => {
    const { root } = await write([dir('a'), whiteout('a/x'), dir('o'), opaque('o')], { whiteouts: 'aufs', userxattr: false });
    expect(fs.readdirSync(path.join(root, 'a'))).toEqual(['.wh.x']);
    expect(fs.readdirSync(path.join(root, 'o'))).toEqual(['.wh..wh..opq']);
  });
});

if (!isRoot) {
  describe('overlay dir writer, device form', () => {
    it.skip('needs root (mknod and trusted.* xattrs): skipped because this process is not root', () => {});
  });
  console.warn('SKIPPED: device-form writer tests need root');
}
