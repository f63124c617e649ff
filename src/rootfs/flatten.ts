/**
 * flatten = image layers → merged root filesystem, as one tar stream or a
 * directory (SPEC.md §11). The directory is written by RootfsDirWriter, whose
 * own-directories set keeps every write inside the target and never follows
 * a symlink from the image, and it appears only when complete.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import type { ContentEntry } from '../entry.js';
import type { WarningSink } from '../errors.js';
import { trackTemp, withAtomicDir, writeFileAtomic } from '../fs/atomic.js';
import type { ImageLayer } from '../image/image.js';
import { layerEntries } from '../image/layer-entries.js';
import { type Progress, makeProgress } from '../image/progress.js';
import { writeOciLayer } from '../layer/oci-write.js';
import { fromText, normalizeName } from '../paths.js';
import { RootfsDirWriter } from './dir-write.js';
import { type IdMapping, mapOwners } from './idmap.js';
import { type MergeLayer, NeedsLookahead, findReplacedDirs, mergeLayers } from './merge.js';
import { HiddenSpool } from './spool.js';
import { type LayerSelection, selectLayers } from './select.js';
import type { Limits } from '../layer/limits.js';

export interface FlattenOptions extends LayerSelection {
  /** `--path /abs/path` (text): only that path and what lies below it. */
  path?: string;
  idMap?: IdMapping;
  onWarning?: WarningSink;
  /** Progress on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  limits?: Partial<Limits>;
}

export interface FlattenStats {
  entries: number;
  bytes: number;
}

/** Say each warning once: a layer read twice (hardlinks) would say them twice. */
export function once(warn: WarningSink | undefined): WarningSink | undefined {
  if (!warn) return undefined;
  const seen = new Set<string>();
  return (m) => {
    if (seen.has(m)) return;
    seen.add(m);
    warn(m);
  };
}

/** The layers as the merge reads them, each counting its bytes for progress. */
export function mergeLayersOf(
  layers: readonly ImageLayer[],
  progress: Progress,
  onWarning?: WarningSink,
  limits?: Partial<Limits>,
  read: { stopsEarly?: boolean; volatile?: boolean } = {},
): MergeLayer[] {
  return layers.map((l) => {
    const open = (prefix: boolean) =>
      layerEntries(l, { events: { onBytes: progress.layer(`layer ${l.index}`, l.size) }, limits, prefix, volatile: read.volatile ?? false, ...(onWarning ? { onWarning } : {}) });
    const ml: MergeLayer = { what: l.what, entries: () => open(read.stopsEarly ?? false) };
    if (l.openPrefix) ml.prefix = () => open(true);
    return ml;
  });
}

function scopeOf(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  return normalizeName(fromText(path), '--path');
}

/** How flattenEntries reads the layers. */
export interface FlattenReading {
  /** Each layer is first read once to find what it replaces within itself (only malformed layers need it). */
  lookahead?: boolean;
  /** The caller may stop before the end (recover): each layer's blob is then still read through its digest (provenPrefix). */
  stopsEarly?: boolean;
  /** Where hidden files wait for hardlinks that may need them (src/rootfs/spool.ts); without it, a second pass. */
  spool?: HiddenSpool;
  /**
   * The consumer is done with each entry's body when it asks for the next
   * entry, and keeps no view of it: the layers are read into reused buffers
   * (LayerReadOptions.volatile).
   */
  volatile?: boolean;
}

/** The merged root filesystem as entries, top layer first (see src/rootfs/merge.ts). */
export function flattenEntries(layers: readonly ImageLayer[], opts: FlattenOptions = {}, reading: FlattenReading = {}): { entries: AsyncIterable<ContentEntry>; progress: Progress } {
  const lookahead = reading.lookahead ?? false;
  const chosen = selectLayers(layers, opts);
  const progress = makeProgress(
    chosen.reduce((n, l) => n + l.size * (lookahead ? 2 : 1), 0),
    opts.progress,
  );
  const warn = once(opts.onWarning);
  const scope = scopeOf(opts.path);
  const mls = mergeLayersOf(chosen, progress, warn, opts.limits, { stopsEarly: reading.stopsEarly ?? false, volatile: reading.volatile ?? false });
  const spool = reading.spool;
  async function* run(): AsyncGenerator<ContentEntry> {
    const replaced = lookahead ? await Promise.all(mls.map((l) => findReplacedDirs(l))) : undefined;
    yield* mergeLayers(mls, {
      ...(scope !== undefined ? { path: scope } : {}),
      ...(warn ? { onWarning: warn } : {}),
      ...(replaced ? { replaced } : {}),
      ...(spool ? { spool } : {}),
    });
  }
  return { entries: mapOwners(run(), opts.idMap), progress };
}

/** Run `attempt` once; if a layer turns out to need the lookahead, once more with it (outputs that can start over). */
async function withLookaheadRetry<T>(attempt: (lookahead: boolean) => Promise<T>): Promise<T> {
  try {
    return await attempt(false);
  } catch (e) {
    if (!(e instanceof NeedsLookahead)) throw e;
    return attempt(true);
  }
}

/**
 * The merged root filesystem as one uncompressed tar stream. A stream cannot
 * start over: a malformed layer that needs the lookahead fails with
 * NeedsLookahead unless `lookahead` is set (flattenToTarFile retries by itself).
 * With `consumed` the caller is done with each chunk when it asks for the
 * next (it writes it in line): the layers' reads and the tar's batches then
 * reuse their buffers (WriteTarOptions.reuse, LayerReadOptions.volatile).
 */
export async function* flattenToTar(layers: readonly ImageLayer[], opts: FlattenOptions = {}, lookahead = false, consumed = false): AsyncGenerator<Buffer> {
  const dir = path.join(os.tmpdir(), `whiteout-spool-${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
  const untrack = trackTemp(dir);
  const spool = new HiddenSpool(dir);
  // Bodies of 64 KiB and more pass through the tar writer as views of the layer's chunks:
  // they are done with only when the caller is (an output that queues would see them refilled).
  const { entries, progress } = flattenEntries(layers, opts, { lookahead, spool, volatile: consumed });
  try {
    yield* writeOciLayer(entries, { reuse: consumed });
  } finally {
    progress.done();
    spool.remove();
    untrack();
  }
}

/** The merged root filesystem written into `target`, which appears only when complete. */
export async function flattenToDir(layers: readonly ImageLayer[], target: string, opts: FlattenOptions & { force?: boolean } = {}): Promise<FlattenStats> {
  return withLookaheadRetry((lookahead) => flattenToDirOnce(layers, target, opts, lookahead));
}

/** The merged root filesystem as a tar file, which appears only when complete. */
export async function flattenToTarFile(layers: readonly ImageLayer[], target: string, opts: FlattenOptions & { force?: boolean } = {}): Promise<void> {
  // writeFileAtomic writes each chunk before it asks for the next.
  await withLookaheadRetry((lookahead) => writeFileAtomic(target, opts.force ?? false, flattenToTar(layers, opts, lookahead, true)));
}

async function flattenToDirOnce(layers: readonly ImageLayer[], target: string, opts: FlattenOptions & { force?: boolean }, lookahead: boolean): Promise<FlattenStats> {
  return withAtomicDir(target, opts.force ?? false, async ({ root, work }) => {
    // In the work directory: on the target's file system, and removed with it whatever happens.
    const spool = new HiddenSpool(path.join(work, 'hidden-files'));
    // The writer copies what it writes behind: the layers are read into reused buffers.
    const { entries, progress } = flattenEntries(layers, opts, { lookahead, spool, volatile: true });
    try {
      const writer = new RootfsDirWriter(root, { workDir: work, what: target, volatileBodies: true });
      for await (const e of entries) await writer.add(e);
      await writer.finish();
      return { entries: writer.entries, bytes: writer.bytes };
    } finally {
      progress.done();
      spool.remove();
    }
  });
}
