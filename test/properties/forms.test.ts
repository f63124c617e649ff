/**
 * P3. Every on-disk form gives the same merged tree. Each form's unpacked
 * layers must merge to the OCI model, as read by:
 *   - the userland overlay model (every form);
 *   - a kernel mount as root (device and xattr forms; `-o userxattr` for the
 *     --userxattr variants, which root may use too);
 *   - a kernel mount inside a user namespace (the --userxattr variants: the
 *     rootless case those forms exist for);
 *   - fuse-overlayfs (the aufs form, which the kernel does not read).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import {
  type LayerSpec,
  type TreeSnapshot,
  applyOciLayers,
  describeStack,
  fuseOverlayAvailable,
  kernelOverlayAvailable,
  layerStack,
  overlayLookup,
  snapshotDir,
  snapshotKernelMount,
  stackToTars,
  userNamespaceMountAvailable,
  withFuseOverlayMount,
  withUserNamespaceMount,
} from '../../src/conformance/index.js';
import type { OverlayForm } from '../../src/overlay/forms.js';
import { type Comparison, FORMS, asMounted, expectAllSame, fcParams, formName, rmrf, tempBase, unpackAll, warnSkip, skippedOracle } from './harness.js';

const kernel = await kernelOverlayAvailable();
const userns = await userNamespaceMountAvailable();
const fuse = await fuseOverlayAvailable();
warnSkip('P3 kernel mounts', kernel);
warnSkip('P3 user-namespace mounts (rootless userxattr forms)', userns);
warnSkip('P3 fuse-overlayfs mounts (aufs form)', fuse);

/** trusted.* is invisible inside a user namespace; the layers under test carry none as content. */
const NO_TRUSTED = { xattrs: (name: string) => name.startsWith('trusted.') };

type Oracle = 'kernel' | 'userns' | 'fuse';

let fuseFailures = 0;

/**
 * fuse-overlayfs 1.10 fails readdir with ENOMEM when a lower layer has a
 * symlink that points into itself (`d2 -> d2`, `d1 -> d1/a`) and an upper
 * layer has a directory of that name. That is its bug, not ours: such a case
 * is left to the other oracles, and said so.
 */
async function fuseSnapshot(layers: readonly string[], stack: readonly LayerSpec[]): Promise<TreeSnapshot | undefined> {
  try {
    return await withFuseOverlayMount(layers, (mnt) => snapshotDir(mnt));
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOMEM') throw e;
    if (fuseFailures++ === 0) console.warn(`fuse-overlayfs could not read a merged directory (ENOMEM, a fuse-overlayfs bug); not compared:\n${describeStack(stack)}`);
    return undefined;
  }
}

async function checkForm(stack: readonly LayerSpec[], form: OverlayForm, oracles: readonly Oracle[]): Promise<void> {
  const base = tempBase();
  try {
    const dirs = await unpackAll(await stackToTars(stack), base, form);
    const mounted = asMounted(dirs, base);
    const oci = applyOciLayers(stack);
    const model = await overlayLookup(mounted, form);
    const checks: Comparison[] = [{ a: oci, b: model, labels: ['OCI model', 'overlay model'], ignore: { ghosts: true } }];
    const add = (snap: TreeSnapshot, label: string, ignore = {}) => {
      checks.push({ a: model, b: snap, labels: ['overlay model', label], ignore });
      checks.push({ a: oci, b: snap, labels: ['OCI model', label], ignore });
    };
    if (oracles.includes('kernel')) add(await snapshotKernelMount(dirs, { userxattr: form.userxattr }), 'kernel');
    if (oracles.includes('userns')) add(await withUserNamespaceMount(dirs, { userxattr: form.userxattr }), 'kernel in a user namespace', NO_TRUSTED);
    if (oracles.includes('fuse')) {
      const snap = await fuseSnapshot(mounted, stack);
      // fuse-overlayfs gives every path its own inode number, so hardlinks cannot be seen through it.
      if (snap) add(snap, 'fuse-overlayfs', { links: true });
    }
    expectAllSame(stack, checks, formName(form));
  } finally {
    rmrf(base);
  }
}

describe('P3: every --whiteouts form and --userxattr choice merges to the same tree', () => {
  for (const form of FORMS) {
    const oracles: Oracle[] = [];
    if (form.whiteouts !== 'aufs' && kernel.ok) oracles.push('kernel');
    if (form.whiteouts === 'aufs' && fuse.ok) oracles.push('fuse');
    const seen = ['overlay model', ...oracles.map((o) => (o === 'fuse' ? 'fuse-overlayfs' : 'kernel'))].join(' = ');
    it(`${formName(form)}: OCI model = ${seen}`, async () => {
      await fc.assert(
        fc.asyncProperty(
          // Image xattrs named user.overlay.* must survive as content where user.* is the live
          // namespace. Not in the aufs form: fuse-overlayfs hides every user.overlay.* name.
          layerStack({ maxLayers: 4, maxOps: 8, overlayXattrNames: form.userxattr && form.whiteouts !== 'aufs' }),
          (stack) => checkForm(stack, form, oracles),
        ),
        fcParams(120),
      );
    }, 900_000);
  }

  // Each user-namespace mount spawns a process, so these run fewer cases.
  for (const form of FORMS.filter((f) => f.userxattr && f.whiteouts !== 'aufs')) {
    it.skipIf(!userns.ok)(`${formName(form)}: OCI model = kernel mount in a user namespace (rootless)${userns.ok ? '' : ` (skipped: ${userns.reason})`}`, async () => {
      await fc.assert(
        fc.asyncProperty(layerStack({ maxLayers: 3, maxOps: 8, overlayXattrNames: true }), (stack) => checkForm(stack, form, ['userns'])),
        fcParams(40),
      );
    }, 900_000);
  }

  skippedOracle('kernel mounts of the device and xattr forms', kernel);
  skippedOracle('fuse-overlayfs mounts of the aufs form', fuse);
});
