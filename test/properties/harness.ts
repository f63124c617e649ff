/**
 * Shared plumbing for the property tests: run settings, temp dirs, unpacking
 * a stack layer by layer, and failure messages that carry the stack.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type fc from 'fast-check';
import { it } from 'vitest';
import { type Availability, type LayerOp, type LayerSpec, type SnapshotIgnore, type TreeSnapshot, applyOciLayers, compareSnapshots, describeStack, fixLayer, formatDifferences, overlayLookup, snapshotKernelMount, stackToTars } from '../../src/conformance/index.js';
import { packLayer } from '../../src/ops/pack.js';
import { unpackLayer } from '../../src/ops/unpack.js';
import type { OverlayForm } from '../../src/overlay/forms.js';

/**
 * Runs per property: FC_RUNS overrides (e.g. FC_RUNS=500 for a long soak);
 * FC_SEED (and FC_PATH) replay a failure fast-check reported.
 */
/**
 * The suite runs each property from one fixed seed, so a run of `npm test` (and CI) is repeatable;
 * `FC_SEED=random` explores new stacks (`npm run soak`), and a counterexample it finds is replayed
 * with the `FC_SEED`/`FC_PATH` it prints, then kept in test/conformance/regressions.test.ts.
 */
export const DEFAULT_SEED = 20261123;

export function fcParams<T>(defaultRuns: number): fc.Parameters<T> {
  const params: fc.Parameters<T> = { numRuns: Number(process.env.FC_RUNS ?? defaultRuns) };
  const seed = process.env.FC_SEED ?? String(DEFAULT_SEED);
  if (seed !== 'random') params.seed = Number(seed);
  if (process.env.FC_PATH !== undefined) params.path = process.env.FC_PATH;
  return params;
}

export function tempBase(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-prop-'));
}

export function rmrf(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export async function* bytes(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

export async function collect(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of src) chunks.push(c);
  return Buffer.concat(chunks);
}

/**
 * Unpack each tar in order into `<base>/<prefix><i>`, every layer given the
 * ones already unpacked as its lowers (topmost first). Returns the dirs
 * topmost first, as `lowerdir=` wants them.
 */
export async function unpackAll(tars: readonly Buffer[], base: string, form: OverlayForm, prefix = 'L'): Promise<string[]> {
  const dirs: string[] = [];
  for (let i = 0; i < tars.length; i++) {
    const dir = path.join(base, `${prefix}${i}`);
    await unpackLayer(bytes(tars[i] as Buffer), dir, { form, lowers: [...dirs].reverse(), name: `layer ${i}` });
    dirs.push(dir);
  }
  return dirs.reverse();
}

/**
 * overlayfs needs two lowers when there is no upper, so withKernelMount puts
 * an empty directory under a single layer. The userland model must see the
 * same stack, or it would read the root as unmerged where the kernel merges it.
 */
export function asMounted(dirsTopFirst: readonly string[], base: string): string[] {
  if (dirsTopFirst.length !== 1) return [...dirsTopFirst];
  const empty = path.join(base, 'empty-lower');
  fs.mkdirSync(empty, { recursive: true });
  return [...dirsTopFirst, empty];
}

export class Mismatch extends Error {
  override name = 'Mismatch';
}

export interface Comparison {
  a: TreeSnapshot;
  b: TreeSnapshot;
  labels: [string, string];
  ignore?: SnapshotIgnore;
}

/**
 * Throw unless every pair agrees. All pairs are compared before throwing, so
 * a failure shows which trees agree with which: that is what tells a model
 * bug from a bug in the code under test.
 */
export function expectAllSame(stack: readonly LayerSpec[], comparisons: readonly Comparison[], context = ''): void {
  const failures: string[] = [];
  let failed = false;
  for (const c of comparisons) {
    const diffs = compareSnapshots(c.a, c.b, c.labels, c.ignore ?? {});
    failed ||= diffs.length > 0;
    if (diffs.length > 0) failures.push(`${c.labels[0]} ≠ ${c.labels[1]}:\n${formatDifferences(diffs)}`);
    else failures.push(`${c.labels[0]} = ${c.labels[1]}`);
  }
  if (!failed) return;
  throw new Mismatch(`${context ? `${context}\n` : ''}${failures.join('\n')}\n--- stack (bottom first) ---\n${describeStack(stack)}`);
}

const warned = new Set<string>();

/** Say once, visibly, why a check is skipped. */
export function warnSkip(what: string, a: Availability): void {
  if (a.ok || warned.has(what)) return;
  warned.add(what);
  console.warn(`SKIPPED: ${what}: ${a.reason}`);
}

/**
 * Register a visibly skipped test when an oracle is unavailable, so the
 * summary shows what did not run and why (call inside a describe).
 */
export function skippedOracle(label: string, a: Availability): void {
  if (!a.ok) it.skip(`${label} (skipped: ${a.reason})`, () => {});
}

export const FORMS: readonly OverlayForm[] = [
  { whiteouts: 'device', userxattr: false },
  { whiteouts: 'device', userxattr: true },
  { whiteouts: 'xattr', userxattr: false },
  { whiteouts: 'xattr', userxattr: true },
  { whiteouts: 'aufs', userxattr: false },
  { whiteouts: 'aufs', userxattr: true },
];

export function formName(f: OverlayForm): string {
  return `--whiteouts ${f.whiteouts}${f.userxattr ? ' --userxattr' : ''}`;
}

export interface MergeCheckOptions {
  form: OverlayForm;
  /** Also mount with the kernel (only when kernelOverlayAvailable() said ok). */
  kernel: boolean;
}

/**
 * P1 for one stack: unpack it, then require the OCI model, the userland
 * overlay model and (optionally) the kernel mount to agree.
 */
export async function checkMerge(stack: readonly LayerSpec[], opts: MergeCheckOptions): Promise<void> {
  const tars = await stackToTars(stack);
  const base = tempBase();
  try {
    const dirs = await unpackAll(tars, base, opts.form);
    const oci = applyOciLayers(stack);
    const lookup = await overlayLookup(asMounted(dirs, base), opts.form);
    const checks: Comparison[] = [
      // Ghosts are a kernel readdir artefact the OCI model cannot have; the kernel comparisons check them.
      { a: oci, b: lookup, labels: ['OCI model', 'overlay model'], ignore: { ghosts: true } },
    ];
    if (opts.kernel) {
      const mounted = await snapshotKernelMount(dirs, { userxattr: opts.form.userxattr });
      checks.push({ a: lookup, b: mounted, labels: ['overlay model', 'kernel'] });
      checks.push({ a: oci, b: mounted, labels: ['OCI model', 'kernel'] });
    }
    // flatten is compared with the same model and the kernel in test/rootfs/.
    expectAllSame(stack, checks, formName(opts.form));
  } finally {
    rmrf(base);
  }
}

/**
 * What the layer dirs (topmost first) show when merged: the kernel's view when
 * it can mount them, else the userland model's. `mountable` says whether the
 * kernel may be used (the caller checked kernelOverlayAvailable()).
 */
export async function mergedView(dirsTopFirst: readonly string[], base: string, form: OverlayForm, mountable: boolean): Promise<TreeSnapshot> {
  if (mountable && form.whiteouts !== 'aufs') return snapshotKernelMount(dirsTopFirst, { userxattr: form.userxattr });
  return overlayLookup(asMounted(dirsTopFirst, base), form);
}

/**
 * Whiteout devices carry no meaning beyond being 0/0 character devices: their
 * mtime is when they were made. Zero it so two layer dirs compare by content.
 */
export function neutralWhiteouts(snap: TreeSnapshot): TreeSnapshot {
  const nodes = new Map(snap.nodes);
  for (const [p, n] of nodes) if (n.type === 'char' && n.major === 0 && n.minor === 0) nodes.set(p, { ...n, mtime: 0 });
  return { nodes, ghosts: snap.ghosts };
}

/** Pack each layer dir (bottom first here) back into an uncompressed OCI tar. */
export async function packAll(dirsTopFirst: readonly string[], form: OverlayForm): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const dir of [...dirsTopFirst].reverse()) {
    out.push(await collect(packLayer(dir, { userxattr: form.userxattr, aufs: form.whiteouts === 'aufs' }).stream));
  }
  return out;
}
