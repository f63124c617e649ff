/**
 * P2. Round trips keep the merged result:
 *   a. tar → dir → tar → dir: unpack, pack each layer dir, unpack the packed
 *      tars again; the merge of the second set equals the first and the OCI model;
 *   b. dir → tar → dir: each layer directory, packed and unpacked again onto
 *      the same lowers, is the same directory (overlay metadata included);
 *   c. convert: convertToOci(convertToOverlay(tar)), unpacked, merges like the
 *      tar itself does (convert agrees with unpack followed by pack).
 * The merge is the kernel's when it can mount, else the userland model's.
 */
import path from 'node:path';
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { applyOciLayers, kernelOverlayAvailable, layerStack, snapshotDir, stackToTars } from '../../src/conformance/index.js';
import { convertToOci, convertToOverlay } from '../../src/ops/convert.js';
import type { OverlayForm } from '../../src/overlay/forms.js';
import {
  bytes,
  collect,
  expectAllSame,
  fcParams,
  mergedView,
  neutralWhiteouts,
  packAll,
  rmrf,
  tempBase,
  unpackAll,
  warnSkip,
  skippedOracle,
} from './harness.js';

const kernel = await kernelOverlayAvailable();
warnSkip('P2 kernel oracle (merges fall back to the userland model)', kernel);
const merge = kernel.ok ? 'kernel' : 'overlay model';
const DEVICE: OverlayForm = { whiteouts: 'device', userxattr: false };
/**
 * pack never exports a layer's root directory (moby, containerd and BuildKit
 * do the same: a layer that carried it would reset the image root), so a
 * root entry's metadata does not survive a trip through a layer directory.
 */
const ROOT_NOT_EXPORTED = { rootMeta: true } as const;

describe('P2: round trips keep the merged tree', () => {
  it(`tar → dir → tar → dir (${merge})`, async () => {
    await fc.assert(
      fc.asyncProperty(layerStack({ maxLayers: 3, maxOps: 8 }), async (stack) => {
        const base = tempBase();
        try {
          const dirs = await unpackAll(await stackToTars(stack), base, DEVICE, 'A');
          const again = await unpackAll(await packAll(dirs, DEVICE), base, DEVICE, 'B');
          const first = await mergedView(dirs, base, DEVICE, kernel.ok);
          const second = await mergedView(again, base, DEVICE, kernel.ok);
          expectAllSame(stack, [
            { a: first, b: second, labels: ['unpacked', 'packed and unpacked again'], ignore: ROOT_NOT_EXPORTED },
            { a: applyOciLayers(stack), b: second, labels: ['OCI model', 'packed and unpacked again'], ignore: { ...ROOT_NOT_EXPORTED, ghosts: true } },
          ]);
        } finally {
          rmrf(base);
        }
      }),
      fcParams(150),
    );
  }, 900_000);

  it('dir → tar → dir gives each layer directory back', async () => {
    await fc.assert(
      fc.asyncProperty(layerStack({ maxLayers: 3, maxOps: 8 }), async (stack) => {
        const base = tempBase();
        try {
          const dirs = await unpackAll(await stackToTars(stack), base, DEVICE, 'A'); // topmost first
          const again = await unpackAll(await packAll(dirs, DEVICE), base, DEVICE, 'B');
          const checks = await Promise.all(
            dirs.map(async (d, i) => ({
              a: neutralWhiteouts(await snapshotDir(d)),
              b: neutralWhiteouts(await snapshotDir(again[i] as string)),
              labels: [`layer dir ${path.basename(d)}`, `repacked ${path.basename(again[i] as string)}`] as [string, string],
              ignore: ROOT_NOT_EXPORTED,
            })),
          );
          expectAllSame(stack, checks);
        } finally {
          rmrf(base);
        }
      }),
      fcParams(150),
    );
  }, 900_000);

  for (const userxattr of [false, true]) {
    it(`convertToOverlay then convertToOci merges like the original tar${userxattr ? ' (--userxattr)' : ''} (${merge})`, async () => {
      const form: OverlayForm = { whiteouts: 'device', userxattr };
      await fc.assert(
        fc.asyncProperty(layerStack({ maxLayers: 3, maxOps: 8 }), async (stack) => {
          const base = tempBase();
          try {
            const tars = await stackToTars(stack);
            const converted: Buffer[] = [];
            for (const t of tars) {
              const overlayTar = await collect(convertToOverlay(() => bytes(t), { userxattr }));
              converted.push(await collect(convertToOci(bytes(overlayTar), { userxattr })));
            }
            const direct = await mergedView(await unpackAll(tars, base, form, 'A'), base, form, kernel.ok);
            const viaConvert = await mergedView(await unpackAll(converted, base, form, 'C'), base, form, kernel.ok);
            expectAllSame(stack, [
              { a: direct, b: viaConvert, labels: ['unpacked', 'converted there and back, unpacked'] },
              { a: applyOciLayers(stack), b: viaConvert, labels: ['OCI model', 'converted there and back, unpacked'], ignore: { ghosts: true } },
            ]);
          } finally {
            rmrf(base);
          }
        }),
        fcParams(150),
      );
    }, 900_000);
  }

  skippedOracle('kernel merges (the userland model stands in)', kernel);
});
