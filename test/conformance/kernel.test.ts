/**
 * The kernel oracle's own plumbing: mounts are read-only, always unmounted,
 * and the user-namespace variant really is one.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as fsx from 'fs-xattr';
import { afterEach, describe, expect, it } from 'vitest';
import { kernelOverlayAvailable, userNamespaceMountAvailable, withKernelMount, withUserNamespaceMount } from '../../src/conformance/index.js';
import { rmrf, skippedOracle, tempBase } from '../properties/harness.js';

const kernel = await kernelOverlayAvailable();
const userns = await userNamespaceMountAvailable();

const bases: string[] = [];
afterEach(() => {
  while (bases.length) rmrf(bases.pop() as string);
});
function layer(name: string, files: Record<string, string>): string {
  if (bases.length === 0) bases.push(tempBase());
  const dir = path.join(bases[0] as string, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, c] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), c);
  return dir;
}

function mounted(p: string): boolean {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${p} `);
}

describe('withKernelMount', () => {
  skippedOracle('kernel mounts', kernel);

  it('refuses layer paths that the mount option syntax would split', async () => {
    await expect(withKernelMount(['/tmp/a:b', '/tmp/c'], {}, async () => 1)).rejects.toThrow(/not allowed/);
    await expect(withKernelMount(['/tmp/a,upperdir=/x', '/tmp/c'], {}, async () => 1)).rejects.toThrow(/not allowed/);
  });

  it.runIf(kernel.ok)('mounts a single layer (with an empty lower under it), read-only, and unmounts even when the callback throws', async () => {
    const a = layer('a', { f: 'x' });
    let where = '';
    await expect(
      withKernelMount([a], {}, async (mnt) => {
        where = mnt;
        expect(fs.readFileSync(path.join(mnt, 'f'), 'utf8')).toBe('x');
        expect(() => fs.writeFileSync(path.join(mnt, 'g'), 'y')).toThrow(/EROFS|read-only/);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(where).not.toBe('');
    expect(mounted(where)).toBe(false);
    expect(fs.existsSync(where)).toBe(false);
  });

  it.runIf(kernel.ok)('stacks layers topmost first', async () => {
    const top = layer('top', { f: 'top' });
    const bottom = layer('bottom', { f: 'bottom', g: 'g' });
    const seen = await withKernelMount([top, bottom], {}, async (mnt) => [fs.readFileSync(path.join(mnt, 'f'), 'utf8'), fs.readdirSync(mnt).sort()]);
    expect(seen).toEqual(['top', ['f', 'g']]);
  });
});

describe('withUserNamespaceMount', () => {
  skippedOracle('user-namespace mounts', userns);

  it.runIf(userns.ok)('mounts inside a user namespace: owners read back unchanged, trusted.* is invisible, user.overlay.* is live', async () => {
    const a = layer('a', { f: 'x', hidden: '' });
    fs.chownSync(path.join(a, 'f'), 1234, 5678);
    fsx.setAttributeSync(path.join(a, 'f'), 'trusted.k', Buffer.from('t'));
    fsx.setAttributeSync(path.join(a, 'f'), 'user.overlay.overlay.k', Buffer.from('u'));
    fsx.setAttributeSync(path.join(a, 'hidden'), 'user.overlay.whiteout', Buffer.alloc(0));
    fsx.setAttributeSync(a, 'user.overlay.opaque', Buffer.from('x'));
    const b = layer('b', { hidden: 'below' });
    const snap = await withUserNamespaceMount([a, b], { userxattr: true });
    const f = snap.nodes.get('f');
    expect(f).toMatchObject({ uid: 1234, gid: 5678 });
    expect([...(f?.xattrs.keys() ?? [])]).toEqual(['user.overlay.k']);
    expect(snap.nodes.has('hidden')).toBe(false);
    // The same layers as root: trusted.* shows, which is how we know the walk above ran in the namespace.
    const asRoot = await withKernelMount([a, b], { userxattr: true }, async (mnt) => fsx.listAttributesSync(path.join(mnt, 'f')).sort());
    expect(asRoot).toEqual(['trusted.k', 'user.overlay.k']);
  });
});
