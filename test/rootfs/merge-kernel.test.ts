/**
 * flatten = what the kernel shows: random stacks are unpacked layer by layer
 * (each with the ones below as lowers), mounted with the real overlayfs, and
 * the mount must be exactly what flatten writes, as a tar and as a directory.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { compareSnapshots, describeStack, formatDifferences, kernelOverlayAvailable, layerStack, snapshotKernelMount, stackToTars } from '../../src/conformance/index.js';
import { fcParams, unpackAll } from '../properties/harness.js';
import { flattenDirSnapshot, flattenTarSnapshot, memoryLayers, rmrf, tempBase } from './helpers.js';

const kernel = await kernelOverlayAvailable();
if (!kernel.ok) console.warn(`SKIPPED: flatten = kernel overlay mount: ${kernel.reason}`);

describe('flatten = kernel overlay mount of the unpacked layers (random stacks)', () => {
  it.runIf(kernel.ok)('as a tar and as a directory', async () => {
    await fc.assert(
      fc.asyncProperty(layerStack({ maxLayers: 4, maxOps: 8 }), async (stack) => {
        const base = tempBase();
        try {
          const tars = await stackToTars(stack);
          const dirs = await unpackAll(tars, base, { whiteouts: 'device', userxattr: false });
          const mounted = await snapshotKernelMount(dirs);
          const layers = memoryLayers(tars);
          const { snap: tar } = await flattenTarSnapshot(layers, base);
          const dir = await flattenDirSnapshot(layers, base);
          const problems: string[] = [];
          const a = compareSnapshots(mounted, tar, ['kernel', 'flatten tar']);
          if (a.length) problems.push(formatDifferences(a));
          const b = compareSnapshots(mounted, dir, ['kernel', 'flatten dir']);
          if (b.length) problems.push(formatDifferences(b));
          if (problems.length) throw new Error(`${problems.join('\n')}\n--- stack ---\n${describeStack(stack)}`);
        } finally {
          rmrf(base);
        }
      }),
      fcParams(100),
    );
  }, 900_000);
  if (!kernel.ok) it.skip(`kernel comparison (skipped: ${kernel.reason})`, () => {});
});
