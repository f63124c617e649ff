/**
 * The snapshot machinery itself: a checker that cannot see a difference
 * proves nothing, so each field it compares is shown to fail when it differs.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as fsx from 'fs-xattr';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type SnapNode,
  type TreeSnapshot,
  applyIgnore,
  compareSnapshots,
  formatDifferences,
  layerToTar,
  snapshotDir,
  snapshotTar,
} from '../../src/conformance/index.js';
import { bytes, rmrf, tempBase } from '../properties/harness.js';

function node(over: Partial<SnapNode> = {}): SnapNode {
  return { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1, xattrs: new Map(), size: 1, sha256: 'aa', ...over };
}

function snap(entries: Record<string, SnapNode>, ghosts: string[] = []): TreeSnapshot {
  return { nodes: new Map([['', node({ type: 'dir', mode: 0o755, size: undefined, sha256: undefined })], ...Object.entries(entries)]), ghosts };
}

const bases: string[] = [];
afterEach(() => {
  while (bases.length) rmrf(bases.pop() as string);
});
function base(): string {
  const b = tempBase();
  bases.push(b);
  return b;
}

describe('compareSnapshots / formatDifferences', () => {
  it('finds nothing between equal snapshots', () => {
    expect(compareSnapshots(snap({ a: node() }), snap({ a: node() }))).toEqual([]);
  });

  it.each<[string, Partial<SnapNode>, RegExp]>([
    ['mode', { mode: 0o600 }, /^\/a: mode 0644 ≠ 0600/],
    ['owner', { uid: 1000 }, /^\/a: owner 0:0 ≠ 1000:0/],
    ['mtime', { mtime: 2 }, /^\/a: mtime 1 ≠ 2/],
    ['content', { sha256: 'bb' }, /^\/a: content sha256:aa ≠ sha256:bb/],
    ['size', { size: 2 }, /^\/a: size 1 ≠ 2/],
    ['type', { type: 'dir' }, /^\/a: type file ≠ dir/],
    ['xattr', { xattrs: new Map([['user.x', Buffer.from('v').toString('hex')]]) }, /^\/a: xattr user.x \(absent\) ≠ "v"/],
    ['hardlink identity', { linkGroup: 'b' }, /^\/a: hardlinked with \(none\) ≠ \/b/],
  ])('reports a %s difference', (_what, over, line) => {
    const diffs = compareSnapshots(snap({ a: node() }), snap({ a: node(over) }), ['model', 'kernel']);
    expect(diffs.length).toBeGreaterThan(0);
    expect(formatDifferences(diffs)).toMatch(line);
  });

  it('reports a symlink target difference', () => {
    const l = (target: string) => node({ type: 'symlink', mode: 0o777, target, size: undefined, sha256: undefined });
    expect(formatDifferences(compareSnapshots(snap({ l: l('/etc/x') }), snap({ l: l('../x') })))).toMatch(/^\/l: target "\/etc\/x" ≠ "..\/x"/);
  });

  it('reports a path on one side once, with what lies below it', () => {
    const d = node({ type: 'dir', mode: 0o755 });
    const diffs = compareSnapshots(snap({ a: d, 'a/b': node(), 'a/c': node() }), snap({}), ['model', 'kernel']);
    expect(formatDifferences(diffs)).toBe('only in model: /a (and 2 below it)');
  });

  it('reports ghosts unless ignored', () => {
    const diffs = compareSnapshots(snap({}), snap({}, ['w']), ['model', 'kernel']);
    expect(formatDifferences(diffs)).toBe('listed but not found, only in kernel: /w');
    expect(compareSnapshots(snap({}), snap({}, ['w']), ['model', 'kernel'], { ghosts: true })).toEqual([]);
  });

  it('truncates at max lines and says how many more', () => {
    const many: Record<string, SnapNode> = {};
    for (let i = 0; i < 30; i++) many[`f${i}`] = node();
    const text = formatDifferences(compareSnapshots(snap(many), snap({})), 5);
    expect(text.split('\n')).toHaveLength(6);
    expect(text).toMatch(/… and 25 more$/);
  });

  it('shows non-UTF-8 names readably', () => {
    const name = Buffer.from([0x63, 0xc3, 0xa9]).toString('latin1'); // 'cé' as bytes
    expect(formatDifferences(compareSnapshots(snap({ [name]: node() }), snap({})))).toBe('only in a: /cé');
  });

  it('ignore options neutralise exactly their field', () => {
    const a = snap({ a: node({ mtime: 1, uid: 1, xattrs: new Map([['user.x', '00'], ['security.y', '01']]) }) });
    const b = snap({ a: node({ mtime: 2, uid: 2, xattrs: new Map([['user.x', '00']]) }) });
    expect(compareSnapshots(a, b, ['a', 'b'], { mtime: true, owner: true, xattrs: (n) => n.startsWith('security.') })).toEqual([]);
    expect(compareSnapshots(a, b, ['a', 'b'], { mtime: true, owner: true })).toHaveLength(1);
    expect(compareSnapshots(a, b, ['a', 'b'], { owner: true, xattrs: true })).toHaveLength(1);
    const r1 = snap({});
    const r2 = applyIgnore(snap({}), {});
    r2.nodes.set('', { ...(r2.nodes.get('') as SnapNode), mode: 0o700, mtime: 9 });
    expect(compareSnapshots(r1, r2)).toHaveLength(2);
    expect(compareSnapshots(r1, r2, ['a', 'b'], { rootMeta: true })).toEqual([]);
  });
});

describe('snapshotDir', () => {
  it('records types, modes, owners, mtimes, contents and link targets without following symlinks', async () => {
    const b = base();
    const outside = path.join(b, 'outside');
    const root = path.join(b, 'root');
    fs.mkdirSync(outside);
    fs.writeFileSync(path.join(outside, 'secret'), 'no');
    fs.mkdirSync(path.join(root, 'd'), { recursive: true });
    fs.writeFileSync(path.join(root, 'd', 'f'), 'hello');
    fs.chmodSync(path.join(root, 'd', 'f'), 0o4755);
    fs.symlinkSync(outside, path.join(root, 'link'));
    fs.utimesSync(path.join(root, 'd', 'f'), 1234.5, 1234.5);
    const s = await snapshotDir(root);
    expect([...s.nodes.keys()].sort()).toEqual(['', 'd', 'd/f', 'link']);
    const f = s.nodes.get('d/f') as SnapNode;
    expect(f).toMatchObject({ type: 'file', mode: 0o4755, size: 5, mtime: 1234.5 });
    expect(f.sha256).toBe('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    expect(s.nodes.get('link')).toMatchObject({ type: 'symlink', target: outside, mode: 0o777 });
  });

  it('groups hardlinks and keeps byte-exact names', async () => {
    const root = path.join(base(), 'root');
    fs.mkdirSync(root);
    const odd = Buffer.concat([Buffer.from(`${root}/`), Buffer.from([0xff, 0x61])]);
    fs.writeFileSync(odd, 'x');
    fs.linkSync(odd, path.join(root, 'b'));
    const s = await snapshotDir(root);
    const oddName = Buffer.from([0xff, 0x61]).toString('latin1');
    // The group is named by the smallest path, by bytes: 'b' (0x62) < 0xff.
    expect(s.nodes.get(oddName)?.linkGroup).toBe('b');
    expect(s.nodes.get('b')?.linkGroup).toBe('b');
    expect(s.nodes.get(oddName)?.sha256).toBe(s.nodes.get('b')?.sha256);
  });

  it('reads a symlink’s own xattrs, not its target’s', async () => {
    const root = path.join(base(), 'root');
    fs.mkdirSync(root);
    fs.writeFileSync(path.join(root, 't'), '');
    fs.symlinkSync('t', path.join(root, 'l'));
    await fsx.setAttribute(path.join(root, 't'), 'user.target', 'x');
    const s = await snapshotDir(root);
    expect([...(s.nodes.get('t')?.xattrs.keys() ?? [])]).toEqual(['user.target']);
    expect([...(s.nodes.get('l')?.xattrs.keys() ?? [])]).toEqual([]);
  });
});

describe('snapshotTar (a rootfs tar, extracted in memory)', () => {
  it('applies later entries over earlier ones, keeps a directory’s children under a new dir entry, implies parents', async () => {
    const m = { mode: 0o644, uid: 0, gid: 0, mtime: 5 };
    const tar = await layerToTar([
      { op: 'dir', path: 'd', mode: 0o700, uid: 1, gid: 1, mtime: 1 },
      { op: 'file', path: 'd/f', content: Buffer.from('x'), ...m },
      { op: 'file', path: 'x/y/z', content: Buffer.from('deep'), ...m, xattrs: { 'user.k': Buffer.from('v') } },
      { op: 'hardlink', path: 'h', target: 'd/f' },
      { op: 'symlink', path: 's', target: '../../etc', ...m, mode: 0o777 },
    ]);
    const s = await snapshotTar(bytes(tar));
    expect(s.nodes.get('d')).toMatchObject({ type: 'dir', mode: 0o700, uid: 1 });
    expect(s.nodes.get('x')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, mtime: 0 });
    expect(s.nodes.get('x/y/z')?.xattrs.get('user.k')).toBe(Buffer.from('v').toString('hex'));
    expect(s.nodes.get('h')?.linkGroup).toBe('d/f');
    expect(s.nodes.get('s')?.target).toBe('../../etc');
  });

  it('refuses whiteouts: a rootfs has none', async () => {
    const tar = await layerToTar([{ op: 'whiteout', path: 'a' }]);
    await expect(snapshotTar(bytes(tar))).rejects.toThrow(/whiteout/);
  });
});
