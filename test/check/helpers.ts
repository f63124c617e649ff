/** Run the layer linter on crafted tars, alone or as a stack (bottom first). */
import type { Finding } from '../../src/check/finding.js';
import { lintLayerTar } from '../../src/check/layer-lint.js';
import { MergedTree } from '../../src/check/merged-tree.js';
import { resolveLimits } from '../../src/layer/limits.js';

async function* chunks(b: Buffer): AsyncGenerator<Buffer> {
  // Odd-sized chunks, so headers straddle them as they do in a real stream.
  for (let i = 0; i < b.length; i += 700) yield b.subarray(i, i + 700);
}

/** As the image checker orders them: by offset, whole-layer findings first. */
function byOffset(a: Finding, b: Finding): number {
  return (a.offset ?? -1) - (b.offset ?? -1);
}

/** One layer with its lowers unknown. */
export async function lintOne(tar: Buffer): Promise<Finding[]> {
  const out: Finding[] = [];
  await lintLayerTar(chunks(tar), { layer: { index: 0 }, what: 'test layer', limits: resolveLimits(), report: (f) => out.push(f) });
  return out.sort(byOffset);
}

/** Layers as a stack, bottom first: the image-level rules run. */
export async function lintStack(...tars: Buffer[]): Promise<Finding[]> {
  const out: Finding[] = [];
  const below = new MergedTree();
  for (const [index, tar] of tars.entries()) {
    const found: Finding[] = [];
    await lintLayerTar(chunks(tar), { layer: { index }, what: `layer ${index}`, below, limits: resolveLimits(), report: (f) => found.push(f) });
    out.push(...found.sort(byOffset));
  }
  return out;
}

/** Findings reduced to what a test asserts: rule, layer, entry, severity. */
export function brief(fs: readonly Finding[]): { rule: string; layer?: number; entry?: string; severity: string }[] {
  return fs.map((f) => ({ rule: f.rule, ...(f.layer !== undefined ? { layer: f.layer } : {}), ...(f.entry !== undefined ? { entry: f.entry } : {}), severity: f.severity }));
}
