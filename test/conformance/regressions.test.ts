/**
 * Minimal stacks on which the code once disagreed with the image-spec model
 * (found by the properties in test/properties), kept as regression tests.
 */
import { describe, expect, it } from 'vitest';
import { type LayerSpec, type SpecMeta, applyOciLayers, kernelOverlayAvailable, layerToTar, overlayLookup, snapshotKernelMount } from '../../src/conformance/index.js';
import { convertToOci, convertToOverlay } from '../../src/ops/convert.js';
import type { OverlayForm } from '../../src/overlay/forms.js';
import { asMounted, bytes, checkMerge, collect, expectAllSame, packAll, rmrf, skippedOracle, tempBase, unpackAll } from '../properties/harness.js';

const kernel = await kernelOverlayAvailable();
const m: SpecMeta = { mode: 0o644, uid: 0, gid: 0, mtime: 100 };
const owned: SpecMeta = { mode: 0o700, uid: 1000, gid: 1000, mtime: 12345, xattrs: { 'user.k': Buffer.from('v') } };
const DEVICE: OverlayForm = { whiteouts: 'device', userxattr: false };
const XATTR: OverlayForm = { whiteouts: 'xattr', userxattr: false };
const file = (p: string, meta: SpecMeta = m) => ({ op: 'file' as const, path: p, content: Buffer.from(p), ...meta });
const dir = (p: string, meta: SpecMeta = owned) => ({ op: 'dir' as const, path: p, ...meta });

describe('regressions: counterexamples the properties found, fixed in src/', () => {
  skippedOracle('kernel side of these checks', kernel);

  it('regression 1: a whiteout in a directory that does not exist below creates that directory', async () => {
    // Model: the whiteout hides nothing. Unpack: an empty /d1 appears, holding a whiteout that `ls` lists.
    const stack: LayerSpec[] = [[file('x')], [{ op: 'whiteout', path: 'd1/a' }]];
    await checkMerge(stack, { form: DEVICE, kernel: kernel.ok });
  });

  it.runIf(kernel.ok)('regression 1b: --whiteouts xattr, whiteouts in the bottom layer are listed by readdir', async () => {
    // The lowest layer's xattr whiteouts are not filtered from readdir: `ls /` shows `a` but `stat /a` fails.
    const stack: LayerSpec[] = [[{ op: 'whiteout', path: 'a' }, file('x')], [file('y')]];
    await checkMerge(stack, { form: XATTR, kernel: true });
  });

  it('regression 2: an entry below a same-layer non-directory lets the lower directory’s content show again', async () => {
    // Layer 1 replaces d by a file (deleting d/old), then d/new implies d again: d/old must stay gone.
    const stack: LayerSpec[] = [[dir('d'), file('d/old')], [file('d'), file('d/new')]];
    await checkMerge(stack, { form: DEVICE, kernel: kernel.ok });
  });

  it('regression 3a: .wh.d plus d/x (no d/ entry): the implied d copies the deleted lower d’s metadata', async () => {
    const stack: LayerSpec[] = [[dir('d'), file('d/old')], [{ op: 'whiteout', path: 'd' }, file('d/x')]];
    await checkMerge(stack, { form: DEVICE, kernel: kernel.ok });
  });

  it('regression 3b: an opaque d plus d/e/f: the implied d/e copies the hidden lower d/e’s metadata', async () => {
    const stack: LayerSpec[] = [[dir('d'), dir('d/e')], [{ op: 'opaque', dir: 'd' }, file('d/e/f')]];
    await checkMerge(stack, { form: DEVICE, kernel: kernel.ok });
  });

  it('regression 4: an opaque marker below a same-layer non-directory turns the file back into a directory', async () => {
    // d1 becomes a file in layer 1; the marker for d1/d2 (applied first) must not undo that.
    const stack: LayerSpec[] = [[dir('d1'), file('d1/d2/old')], [file('d1'), { op: 'opaque', dir: 'd1/d2' }]];
    await checkMerge(stack, { form: DEVICE, kernel: kernel.ok });
  });

  it('regression 6: a marker inside a directory that a later entry of the same layer replaces goes with it', async () => {
    // Read in order, `d2` the file removes d2/d2 and its opaque marker; deferred, the marker made d2/d2 again.
    const stack: LayerSpec[] = [
      [dir('d2'), dir('d2/d2'), file('d2/d2/old'), file('d2/x')],
      [dir('d2/d2'), { op: 'opaque', dir: 'd2/d2' }, { op: 'whiteout', path: 'd2/x' }, file('d2'), dir('d2/b')],
    ];
    await checkMerge(stack, { form: DEVICE, kernel: kernel.ok });
  });

  it('regression 5: convertToOverlay gives an opaque directory with no entry made-up metadata (0755 0:0 mtime 0)', async () => {
    const stack: LayerSpec[] = [[dir('d'), file('d/old')], [{ op: 'opaque', dir: 'd' }]];
    await convertedMergesLikeModel(stack);
  });
});

describe('regressions: convert round trips', () => {
  it('.wh.d plus an entry below d (no d/ entry) survives convertToOverlay → convertToOci', async () => {
    const stack: LayerSpec[] = [[dir('d2', { ...m, mode: 0o755, mtime: 1 })], [file('a'), { op: 'whiteout', path: 'd2' }, { op: 'hardlink', path: 'd2/a', target: 'a' }]];
    await convertedMergesLikeModel(stack);
  });

  it('a file hardlinked, whited out in its own layer and then given a child keeps its hardlink through convertToOverlay → convertToOci', async () => {
    // The overlay writer wrote the replacing directory where the whiteout stood, so the
    // hardlink after it pointed at a directory (fast-check seed -1281711288).
    const stack: LayerSpec[] = [
      [
        { op: 'file', path: 'd2', content: Buffer.from([0]), mode: 0o644, uid: 0, gid: 0, mtime: 0 },
        { op: 'whiteout', path: 'd2' },
        { op: 'hardlink', path: 'd1/a', target: 'd2' },
        { op: 'symlink', path: 'd2/a', target: 'a', mode: 0o777, uid: 0, gid: 0, mtime: 0 },
      ],
    ];
    await convertedMergesLikeModel(stack);
  });
});

describe('regressions: convert round trips, markers under a replaced directory', () => {
  // convertToOverlay keeps the layer's order, so convertToOci gives markers before the entry that
  // replaces their directory; the unpacker kept them (fast-check seeds -1041466494 and 513489132).
  it('a whiteout of a directory the layer itself filled, then its parent replaced by a file and a directory', async () => {
    const stack: LayerSpec[] = [
      [
        { op: 'dir', path: 'd2/d2/d1', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        { op: 'whiteout', path: 'd2/d2' },
        { op: 'file', path: 'd2', content: Buffer.from([0]), mode: 0o644, uid: 0, gid: 0, mtime: 0 },
        { op: 'dir', path: 'd2/b', mode: 0o755, uid: 0, gid: 0, mtime: 0, xattrs: { 'user.a': Buffer.from([0]) } },
      ],
    ];
    await convertedMergesLikeModel(stack);
  });

  it('a whiteout, a directory at the same path, then its parent replaced by a file and given a child', async () => {
    const stack: LayerSpec[] = [
      [
        { op: 'whiteout', path: 'd1/a' },
        { op: 'dir', path: 'd1/a', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
        { op: 'file', path: 'd1', content: Buffer.from([]), mode: 0o644, uid: 0, gid: 0, mtime: 0 },
        { op: 'file', path: 'd1/d2', content: Buffer.from([0]), mode: 0o644, uid: 0, gid: 0, mtime: 0 },
      ],
    ];
    await convertedMergesLikeModel(stack);
  });

  // fast-check seed 1554990048 (CI): the file d2 replaces d2/ and its marker-free subtree; the whiteout
  // d2/d1 under that file names nothing; d2/d2/a then turns d2 back into a directory.
  for (const userxattr of [false, true]) {
    it(`a whiteout under a file that replaced its directory, then the directory back with a child${userxattr ? ' (--userxattr)' : ''}`, async () => {
      const stack: LayerSpec[] = [
        [
          { op: 'dir', path: 'd2/d1/c', mode: 0o755, uid: 0, gid: 0, mtime: 0 },
          { op: 'file', path: 'd2', content: Buffer.from([]), mode: 0o644, uid: 0, gid: 0, mtime: 0 },
          { op: 'whiteout', path: 'd2/d1' },
          { op: 'file', path: 'd2/d2/a', content: Buffer.from([0]), mode: 0o644, uid: 0, gid: 0, mtime: 0, xattrs: { 'user.a': Buffer.from('v') } },
        ],
      ];
      await convertedMergesLikeModel(stack, userxattr);
    });
  }
});

/** Each layer through convertToOverlay and back, unpacked: the merge must be the OCI model's. */
async function convertedMergesLikeModel(stack: LayerSpec[], userxattr = false): Promise<void> {
    const base = tempBase();
    const form: OverlayForm = { ...DEVICE, userxattr };
    try {
      const converted: Buffer[] = [];
      for (const layer of stack) {
        const tar = await layerToTar(layer);
        converted.push(await collect(convertToOci(bytes(await collect(convertToOverlay(() => bytes(tar), { userxattr }))), { userxattr })));
      }
      const dirs = await unpackAll(converted, base, form);
      const merged = await overlayLookup(asMounted(dirs, base), form);
      expectAllSame(stack, [{ a: applyOciLayers(stack), b: merged, labels: ['OCI model', 'converted there and back, unpacked'] }]);
    } finally {
      rmrf(base);
    }
}

describe('documented trade-off (SPEC §5.1): image xattrs named user.overlay.* are stored escaped in every mode', () => {
  skippedOracle('kernel side of this check', kernel);
  const stack: LayerSpec[] = [[file('a', { ...m, xattrs: { 'user.overlay.k': Buffer.from('v') } })]];

  for (const userxattr of [false, true]) {
    it.runIf(kernel.ok)(`a mount ${userxattr ? 'with' : 'without'} userxattr shows it as ${userxattr ? 'user.overlay.k' : 'user.overlay.overlay.k (as stored)'}; pack gives back user.overlay.k`, async () => {
      const form: OverlayForm = { whiteouts: 'device', userxattr };
      const base = tempBase();
      try {
        const dirs = await unpackAll([await layerToTar(stack[0] as LayerSpec)], base, form);
        const seen = await snapshotKernelMount(dirs, { userxattr });
        expect([...(seen.nodes.get('a')?.xattrs.keys() ?? [])]).toEqual([userxattr ? 'user.overlay.k' : 'user.overlay.overlay.k']);
        const repacked = await unpackAll(await packAll(dirs, form), base, { whiteouts: 'device', userxattr: true }, 'R');
        const again = await snapshotKernelMount(repacked, { userxattr: true });
        expect([...(again.nodes.get('a')?.xattrs.keys() ?? [])]).toEqual(['user.overlay.k']);
      } finally {
        rmrf(base);
      }
    });
  }
});
