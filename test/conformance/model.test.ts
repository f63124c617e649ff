/**
 * The reference models on hand-made cases whose answer the specs state:
 * applyOciLayers against image-spec layer.md, overlayLookup against
 * hand-built layer directories and, where root can mount, the kernel.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as fsx from 'fs-xattr';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type LayerSpec,
  type SpecMeta,
  type TreeSnapshot,
  applyOciLayers,
  compareSnapshots,
  formatDifferences,
  kernelOverlayAvailable,
  overlayLookup,
  snapshotKernelMount,
} from '../../src/conformance/index.js';
import { rmrf, skippedOracle, tempBase } from '../properties/harness.js';

const m: SpecMeta = { mode: 0o644, uid: 0, gid: 0, mtime: 10 };
const dm: SpecMeta = { mode: 0o750, uid: 7, gid: 7, mtime: 20 };
const file = (p: string, content = p, meta: SpecMeta = m) => ({ op: 'file' as const, path: p, content: Buffer.from(content), ...meta });
const dir = (p: string, meta: SpecMeta = dm) => ({ op: 'dir' as const, path: p, ...meta });

function paths(s: TreeSnapshot): string[] {
  return [...s.nodes.keys()].filter((p) => p !== '').sort();
}

describe('applyOciLayers (image-spec layer.md)', () => {
  it('a whiteout deletes the path and everything below it, in lower layers', () => {
    const s = applyOciLayers([[dir('d'), file('d/a'), file('d/b')], [{ op: 'whiteout', path: 'd' }]]);
    expect(paths(s)).toEqual([]);
  });

  it('an opaque marker removes lower children only, wherever it stands in the layer', () => {
    const s = applyOciLayers([[dir('d'), file('d/old')], [file('d/new'), { op: 'opaque', dir: 'd' }]]);
    expect(paths(s)).toEqual(['d', 'd/new']);
    // The directory itself was not replaced: its lower metadata stays.
    expect(s.nodes.get('d')).toMatchObject({ mode: 0o750, uid: 7 });
  });

  it('opaque markers on nested directories do not remove each other’s implied directories', () => {
    const s = applyOciLayers([[{ op: 'opaque', dir: 'a/b/c' }, { op: 'opaque', dir: 'a' }]]);
    expect(paths(s)).toEqual(['a', 'a/b', 'a/b/c']);
  });

  it('a whiteout and an entry for the same path in one layer: the entry stays', () => {
    const s = applyOciLayers([[file('a', 'old')], [{ op: 'whiteout', path: 'a' }, file('a', 'new')]]);
    expect(paths(s)).toEqual(['a']);
    expect(s.nodes.get('a')?.size).toBe(3);
  });

  it('.wh.X with a directory X/ in the same layer makes X a fresh directory', () => {
    const s = applyOciLayers([[dir('x'), file('x/old')], [dir('x', { ...dm, mode: 0o700 }), { op: 'whiteout', path: 'x' }, file('x/new')]]);
    expect(paths(s)).toEqual(['x', 'x/new']);
    expect(s.nodes.get('x')?.mode).toBe(0o700);
  });

  it('a directory over a directory replaces its attributes and keeps its children', () => {
    const s = applyOciLayers([[dir('d'), file('d/a')], [dir('d', { mode: 0o1777, uid: 1, gid: 2, mtime: 3, xattrs: { 'user.k': Buffer.from('v') } })]]);
    expect(paths(s)).toEqual(['d', 'd/a']);
    expect(s.nodes.get('d')).toMatchObject({ mode: 0o1777, uid: 1, gid: 2, mtime: 3 });
    expect(s.nodes.get('d')?.xattrs.get('user.k')).toBe('76');
  });

  it('anything else replaces what was there, subtree included', () => {
    const s = applyOciLayers([[dir('d'), file('d/a')], [file('d')]]);
    expect(paths(s)).toEqual(['d']);
    expect(s.nodes.get('d')?.type).toBe('file');
  });

  it('an implied parent replaces a lower symlink (never followed) and gets 0755 0:0 mtime 0', () => {
    const s = applyOciLayers([[dir('real'), { op: 'symlink', path: 'l', target: 'real', ...m, mode: 0o777 }], [file('l/f')]]);
    expect(s.nodes.get('l')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    expect(paths(s)).toEqual(['l', 'l/f', 'real']);
  });

  it('an implied parent over an existing directory leaves it as it is', () => {
    const s = applyOciLayers([[dir('d')], [file('d/f')]]);
    expect(s.nodes.get('d')).toMatchObject({ mode: 0o750, uid: 7, mtime: 20 });
  });

  it('a whiteout under a lower symlink names nothing', () => {
    const s = applyOciLayers([[dir('real'), file('real/f'), { op: 'symlink', path: 'l', target: 'real', ...m }], [{ op: 'whiteout', path: 'l/f' }]]);
    expect(paths(s)).toEqual(['l', 'real', 'real/f']);
  });

  it('a hardlink is its target’s inode at that moment', () => {
    const s = applyOciLayers([[file('a', 'x'), { op: 'hardlink', path: 'b', target: 'a' }], [file('a', 'changed')]]);
    expect(s.nodes.get('b')?.size).toBe(1);
    expect(s.nodes.get('b')?.linkGroup).toBeUndefined(); // a was replaced: b is alone now
    const t = applyOciLayers([[file('a', 'x'), { op: 'hardlink', path: 'b', target: 'a' }]]);
    expect(t.nodes.get('b')?.linkGroup).toBe('a');
  });

  it('refuses a hardlink to something not in the same layer', () => {
    expect(() => applyOciLayers([[file('a')], [{ op: 'hardlink', path: 'b', target: 'a' }]])).toThrow(/earlier non-directory entry of this layer/);
  });

  it('a root entry sets the root’s metadata; the root starts 0755 0:0 mtime 0', () => {
    expect(applyOciLayers([[]]).nodes.get('')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 });
    expect(applyOciLayers([[dir('')]]).nodes.get('')).toMatchObject({ mode: 0o750, uid: 7, mtime: 20 });
  });

  it('symlinks always read as 0777', () => {
    expect(applyOciLayers([[{ op: 'symlink', path: 'l', target: 'x', ...m, mode: 0o644 }]]).nodes.get('l')?.mode).toBe(0o777);
  });
});

// ---- overlayLookup on hand-built layer dirs ------------------------------------------

const bases: string[] = [];
afterEach(() => {
  while (bases.length) rmrf(bases.pop() as string);
});

/** Build layer dirs (topmost first) from small specs: 'f:name', 'd:name', 'w:name' (0/0 device), 'x:name' (xattr whiteout). */
function layers(...specs: string[][]): string[] {
  const b = tempBase();
  bases.push(b);
  return specs.map((spec, i) => {
    const root = path.join(b, `l${i}`);
    fs.mkdirSync(root);
    for (const item of spec) {
      const [kind, rel] = item.split(':') as [string, string];
      const p = path.join(root, rel);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      if (kind === 'f') fs.writeFileSync(p, rel);
      if (kind === 'd') fs.mkdirSync(p, { recursive: true });
      if (kind === 'w') execFileSync('mknod', [p, 'c', '0', '0']);
      if (kind === 'x') {
        fs.writeFileSync(p, '');
        fsx.setAttributeSync(p, 'user.overlay.whiteout', Buffer.alloc(0));
        fsx.setAttributeSync(path.dirname(p), 'user.overlay.opaque', Buffer.from('x'));
      }
    }
    return root;
  });
}

const isRoot = process.getuid?.() === 0;
const kernel = await kernelOverlayAvailable();

describe('overlayLookup', () => {
  it.runIf(isRoot)('a 0/0 device hides the name below and itself (device form)', async () => {
    const s = await overlayLookup(layers(['w:a', 'd:d', 'w:d/x'], ['f:a', 'f:d/x', 'f:d/y']), { whiteouts: 'device', userxattr: false });
    expect(paths(s)).toEqual(['d', 'd/y']);
  });

  it('a non-directory hides everything below it, and a merged dir takes the topmost metadata', async () => {
    const ls = layers(['f:d', 'd:e'], ['d:d', 'f:d/x', 'd:e', 'f:e/y']);
    fs.chmodSync(path.join(ls[0] as string, 'e'), 0o700);
    const s = await overlayLookup(ls, { whiteouts: 'device', userxattr: false });
    expect(paths(s)).toEqual(['d', 'e', 'e/y']);
    expect(s.nodes.get('e')?.mode).toBe(0o700);
  });

  it('opacity ends the merge, except on a layer root', async () => {
    const ls = layers(['d:d', 'f:d/new'], ['f:d/old', 'f:top']);
    fsx.setAttributeSync(path.join(ls[0] as string, 'd'), 'user.overlay.opaque', Buffer.from('y'));
    fsx.setAttributeSync(ls[0] as string, 'user.overlay.opaque', Buffer.from('y'));
    const s = await overlayLookup(ls, { whiteouts: 'device', userxattr: true });
    expect(paths(s)).toEqual(['d', 'd/new', 'top']);
    // With the other namespace active, the same xattr is plain content.
    expect(paths(await overlayLookup(ls, { whiteouts: 'device', userxattr: false }))).toEqual(['d', 'd/new', 'd/old', 'top']);
  });

  it('xattr whiteouts count only in the xattr form', async () => {
    const ls = layers(['x:d/a'], ['f:d/a', 'f:d/b']);
    expect(paths(await overlayLookup(ls, { whiteouts: 'xattr', userxattr: true }))).toEqual(['d', 'd/b']);
    expect(paths(await overlayLookup(ls, { whiteouts: 'device', userxattr: true }))).toEqual(['d', 'd/a', 'd/b']);
  });

  it('aufs: .wh.NAME hides NAME below its own layer only, .wh..wh..opq makes the dir opaque, markers never show', async () => {
    const ls = layers(['f:.wh.a', 'f:b', 'f:.wh.b', 'd:d', 'f:d/.wh..wh..opq', 'f:d/new'], ['f:a', 'f:b', 'f:d/old']);
    const s = await overlayLookup(ls, { whiteouts: 'aufs', userxattr: false });
    expect(paths(s)).toEqual(['b', 'd', 'd/new']);
    expect(s.nodes.get('b')?.sha256).toBe((await overlayLookup([ls[0] as string], { whiteouts: 'aufs', userxattr: false })).nodes.get('b')?.sha256);
  });

  it('shows escaped overlay xattrs unescaped and hides live ones, in the active namespace only', async () => {
    const ls = layers(['f:a'], []);
    const a = path.join(ls[0] as string, 'a');
    fsx.setAttributeSync(a, 'user.overlay.overlay.k', Buffer.from('data'));
    fsx.setAttributeSync(a, 'user.overlay.origin', Buffer.from('live'));
    fsx.setAttributeSync(a, 'user.plain', Buffer.from('p'));
    const user = (await overlayLookup(ls, { whiteouts: 'device', userxattr: true })).nodes.get('a')?.xattrs;
    expect([...(user?.keys() ?? [])].sort()).toEqual(['user.overlay.k', 'user.plain']);
    const trusted = (await overlayLookup(ls, { whiteouts: 'device', userxattr: false })).nodes.get('a')?.xattrs;
    expect([...(trusted?.keys() ?? [])].sort()).toEqual(['user.overlay.origin', 'user.overlay.overlay.k', 'user.plain']);
  });
});

describe('overlayLookup agrees with the kernel on hand-built layers (facts the model encodes)', () => {
  skippedOracle('kernel mounts', kernel);
  const agree = async (ls: string[], userxattr: boolean, whiteouts: 'device' | 'xattr') => {
    const model = await overlayLookup(ls, { whiteouts, userxattr });
    const mounted = await snapshotKernelMount(ls, { userxattr });
    const diffs = compareSnapshots(model, mounted, ['overlay model', 'kernel']);
    expect(formatDifferences(diffs)).toBe('');
    return mounted;
  };

  it.runIf(kernel.ok)('a whiteout in a directory only one layer has is still listed by readdir (a ghost)', async () => {
    const mounted = await agree(layers(['d:only', 'w:only/w', 'w:top'], ['f:x']), false, 'device');
    expect(mounted.ghosts).toEqual(['only/w']);
  });

  it.runIf(kernel.ok)('an xattr whiteout hides at lookup anywhere, but readdir lists it in the lowest layer', async () => {
    const mounted = await agree(layers(['d:d'], ['x:d/w', 'x:v', 'f:d/f']), true, 'xattr');
    expect(mounted.ghosts).toEqual(['d/w', 'v']);
    expect(mounted.nodes.has('v')).toBe(false);
  });

  it.runIf(kernel.ok)('hardlinks within a layer show as one inode through the mount', async () => {
    const ls = layers(['f:a'], ['f:z']);
    fs.linkSync(path.join(ls[0] as string, 'a'), path.join(ls[0] as string, 'b'));
    const mounted = await agree(ls, false, 'device');
    expect(mounted.nodes.get('b')?.linkGroup).toBe('a');
  });
});
