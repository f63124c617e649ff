/**
 * P1. Unpacking a random stack layer by layer (each layer given the ones below
 * as lowers) yields directories whose overlay merge is what the image spec
 * says the stack means. Four trees must agree:
 *   1. applyOciLayers(stack)            — the image-spec model, in memory;
 *   2. overlayLookup(unpacked dirs)     — a userland overlay lookup;
 *   3. a kernel overlay mount of them   — the real thing (root only);
 *   4. flatten(tars)                    — in test/rootfs/ (merge-model, merge-kernel).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { type Availability, kernelOverlayAvailable, layerStack } from '../../src/conformance/index.js';
import { checkMerge, fcParams, warnSkip, skippedOracle } from './harness.js';

const kernel = await kernelOverlayAvailable();
warnSkip('P1 kernel oracle (real overlay mounts)', kernel);

describe('P1: unpacked layers merge to what the image spec says', () => {
  it(`OCI model = userland overlay model${kernel.ok ? ' = kernel mount' : ''} (--whiteouts device)`, async () => {
    await fc.assert(
      fc.asyncProperty(layerStack({ maxLayers: 4, maxOps: 8 }), (stack) =>
        checkMerge(stack, { form: { whiteouts: 'device', userxattr: false }, kernel: kernel.ok }),
      ),
      fcParams(300),
    );
  }, 900_000);

  // Device nodes and FIFOs cost a mknod process each, so they get their own, smaller run.
  const root: Availability = process.getuid?.() === 0 ? { ok: true } : { ok: false, reason: 'creating device nodes needs root' };
  it.skipIf(!root.ok)(`with device nodes and FIFOs too${root.ok ? '' : ` (skipped: ${root.reason})`}`, async () => {
    await fc.assert(
      fc.asyncProperty(layerStack({ maxLayers: 3, maxOps: 8, nodes: true }), (stack) =>
        checkMerge(stack, { form: { whiteouts: 'device', userxattr: false }, kernel: kernel.ok }),
      ),
      fcParams(60),
    );
  }, 900_000);

  skippedOracle('kernel mount of the unpacked layers', kernel);
  // flatten's side of P1 (flatten = OCI model = kernel mount) is in test/rootfs/merge-model.test.ts and merge-kernel.test.ts.
});
