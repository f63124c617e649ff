/**
 * unpack of a whole image: every layer into `<dir>/layers/` in overlay form
 * (see layer-store.ts for the names and reuse), each written with the layers
 * below it as `lowers` (so implied directories keep the metadata they merge
 * with, SPEC.md §6), then the mount line for all of them. A second image on
 * the same base layers costs nothing.
 */
import type { Limits } from '../layer/limits.js';
import fs from 'node:fs';
import path from 'node:path';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { withAtomicDir, writeFileAtomic } from '../fs/atomic.js';
import { OverlayDirWriter, type OverlayDirStats } from '../overlay/dir-write.js';
import { type OverlayForm, defaultOverlayForm } from '../overlay/forms.js';
import { type IdMapping, mapOwners } from '../rootfs/idmap.js';
import type { Image } from './image.js';
import { layerEntries } from './layer-entries.js';
import { chainIDs, placeFor, recipeOf } from './layer-store.js';
import { makeProgress } from './progress.js';

export interface UnpackImageOptions {
  form?: OverlayForm;
  idMap?: IdMapping;
  onWarning?: WarningSink;
  /** Progress on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  limits?: Partial<Limits>;
}

export interface UnpackedLayer {
  index: number;
  diffID: string;
  /** Absolute path of the layer directory. */
  dir: string;
  /** It was there already and was not read. */
  reused: boolean;
  stats?: OverlayDirStats;
}

export interface UnpackImageResult {
  /** Bottom first. */
  layers: UnpackedLayer[];
  /** The `lowerdir=` list, top first, each directory once. */
  lowerdirs: string[];
  /** Where the mount line mounts by default. */
  mountpoint: string;
  /** `mount -t overlay overlay -o lowerdir=… <mountpoint>`. */
  mountLine: string;
  /** Path of the script holding it. */
  script: string;
}

/** Escape a path for `lowerdir=`: overlayfs reads `\` escapes for its `:` separator and the mount option `,`. */
function overlayEscape(p: string): string {
  return p.replace(/[\\:,]/g, (c) => `\\${c}`);
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function mountCommand(lowerdirs: readonly string[], form: OverlayForm): string {
  const opts = `lowerdir=${lowerdirs.map(overlayEscape).join(':')}${form.userxattr ? ',userxattr' : ''}`;
  return `mount -t overlay overlay -o ${shellQuote(opts)}`;
}

export function mountLine(lowerdirs: readonly string[], form: OverlayForm, mountpoint: string): string {
  return `${mountCommand(lowerdirs, form)} ${shellQuote(mountpoint)}`;
}

/** Unpack every layer of `image` under `dir` and write `<dir>/mount.sh`. */
export async function unpackImage(image: Image, dir: string, opts: UnpackImageOptions = {}): Promise<UnpackImageResult> {
  const form = opts.form ?? defaultOverlayForm;
  const root = path.resolve(dir);
  const layersDir = path.join(root, 'layers');
  if (image.layers.length === 0) throw new WhiteoutError(image.what, 'has no layers to unpack', 'input');
  await fs.promises.mkdir(layersDir, { recursive: true });
  const progress = makeProgress(
    image.layers.reduce((n, l) => n + l.size, 0),
    opts.progress,
  );
  const done: UnpackedLayer[] = [];
  const chains = chainIDs(image.layers.map((l) => {
    if (!l.diffID) throw new WhiteoutError(l.what, 'has no diffID in the image config', 'input');
    return l.diffID;
  }));
  try {
    for (const [i, layer] of image.layers.entries()) {
      const diffID = layer.diffID as string;
      const place = await placeFor(layersDir, recipeOf(diffID, chains[i] as string, form, opts.idMap), `layer ${layer.index} (${diffID})`);
      const count = progress.layer(`layer ${layer.index}`, layer.size);
      if (place.reuse) {
        count(layer.size);
        done.push({ index: layer.index, diffID, dir: place.dir, reused: true });
        continue;
      }
      // The layers below, topmost first, as lowerdir lists them; for the bottom layer, none at all.
      const lowers = done.map((l) => l.dir).reverse();
      await place.record();
      const stats = await withAtomicDir(place.dir, false, async (w) => {
        const writer = new OverlayDirWriter(w.root, {
          form,
          workDir: w.work,
          what: layer.what,
          lowers,
          // What it writes behind it copies, so the layer is read into reused buffers (SPEC.md §10).
          volatileBodies: true,
          ...(opts.onWarning ? { onWarning: opts.onWarning } : {}),
        });
        // The diffID and blob digest are checked as the tar streams, so a bad layer fails before it is renamed into place.
        const entries = layerEntries(layer, { events: { onBytes: count }, limits: opts.limits, volatile: true, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
        await writer.addAll(mapOwners(entries, opts.idMap));
        return writer.finish();
      });
      done.push({ index: layer.index, diffID, dir: place.dir, reused: false, stats });
    }
  } finally {
    progress.done();
  }

  // Directories are per ChainID, so none repeats (the kernel would refuse a repeat).
  const lowerdirs = done.map((l) => l.dir).reverse();
  // A mount without an upper dir needs two lowers: an empty one does not change the view.
  if (lowerdirs.length === 1) {
    const empty = path.join(root, 'empty');
    await fs.promises.mkdir(empty, { recursive: true });
    lowerdirs.push(empty);
  }
  const mountpoint = path.join(root, 'merged');
  await fs.promises.mkdir(mountpoint, { recursive: true });
  const line = mountLine(lowerdirs, form, mountpoint);
  const optsBytes = Buffer.byteLength(line);
  if (optsBytes > 4000) opts.onWarning?.(`the mount options are ${optsBytes} bytes; mount(2) takes at most a page (4096)`);
  const script = path.join(root, 'mount.sh');
  const text = [
    '#!/bin/sh',
    `# Written by whiteout unpack: mounts ${image.what}${image.ref ? ` (${image.ref})` : ''} read-only.`,
    `# Usage: sh mount.sh [mountpoint]   (default: ${mountpoint})`,
    'set -e',
    `exec ${mountCommand(lowerdirs, form)} "\${1:-${mountpoint.replace(/["$`\\]/g, (c) => `\\${c}`)}}"`,
    '',
  ].join('\n');
  await writeFileAtomic(script, true, (async function* () {
    yield Buffer.from(text);
  })());
  await fs.promises.chmod(script, 0o755);
  return { layers: done, lowerdirs, mountpoint, mountLine: line, script };
}
