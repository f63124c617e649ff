/** Layers from memory for the merge tests, and snapshots of what flatten writes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type TreeSnapshot, snapshotDir, snapshotTar } from '../../src/conformance/index.js';
import type { ImageLayer } from '../../src/image/image.js';
import { type FlattenOptions, flattenToDir, flattenToTarFile } from '../../src/rootfs/flatten.js';

import { bytes, collect, rmrf } from '../properties/harness.js';

export { bytes, collect, rmrf };

/** Uncompressed layer tars (bottom first) as image layers; `opens` counts how often each was read. */
export function memoryLayers(tars: readonly Buffer[], opens: number[] = []): ImageLayer[] {
  return tars.map((tar, index) => ({
    index,
    what: `layer ${index}`,
    size: tar.length,
    open() {
      opens[index] = (opens[index] ?? 0) + 1;
      return bytes(tar);
    },
  }));
}

export function tempBase(prefix = 'whiteout-rootfs-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

function outName(base: string, ext = ''): string {
  return path.join(base, `rootfs-${Math.random().toString(36).slice(2)}${ext}`);
}

export async function flattenTarSnapshot(layers: readonly ImageLayer[], base: string, opts: FlattenOptions = {}): Promise<{ tar: Buffer; snap: TreeSnapshot }> {
  const out = outName(base, '.tar');
  await flattenToTarFile(layers, out, { progress: false, ...opts });
  try {
    const tar = fs.readFileSync(out);
    return { tar, snap: await snapshotTar(bytes(tar), { name: 'flattened tar' }) };
  } finally {
    rmrf(out);
  }
}

export async function flattenDirSnapshot(layers: readonly ImageLayer[], base: string, opts: FlattenOptions = {}): Promise<TreeSnapshot> {
  const out = outName(base);
  await flattenToDir(layers, out, { progress: false, ...opts });
  try {
    return await snapshotDir(out);
  } finally {
    rmrf(out);
  }
}
