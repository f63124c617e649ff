/**
 * One entry point for every input a command takes: an image in any format
 * (detected from its content), or a list of plain layer tars, bottom first.
 * The result lists the layers bottom first; each opens as a verified,
 * uncompressed tar stream, so the rest of whiteout never sees the format.
 */
import fs from 'node:fs';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { readSource } from '../io.js';
import { decompress, worthAZstdThread } from '../tar/compress.js';
import type { Archive } from './archive.js';
import { type HistoryStep, type ImageConfig, historyOfLayers, parseConfig } from './config.js';
import { type Digest, formatDigest } from './digest.js';
import { resolveDockerArchive } from './docker-archive.js';
import { type Input, classifyInput } from './input.js';
import { resolveOciLayout } from './oci-layout.js';
import { formatPlatform, parsePlatform, platformMatches } from './platform.js';
import type { ImageFormat, LayerSource, ResolvedImage, Selection } from './resolved.js';
import { type Measured, provenPrefix, verified } from './verify.js';

export interface LayerEvents {
  /** Bytes of the blob read so far (for progress). */
  onBytes?: (n: number) => void;
  /** The uncompressed tar's digest and size, once it has been read to the end. */
  onTar?: (m: Measured) => void;
}

export interface ImageLayer {
  /** 0 is the bottom layer. */
  index: number;
  /** Names the layer in messages. */
  what: string;
  mediaType?: string;
  /** The blob's digest, when the image gives one. */
  digest?: string;
  /** The blob's size in bytes. */
  size: number;
  /** From the config; the layer is checked against it as it is read. */
  diffID?: string;
  /** The history step that made this layer. */
  history?: HistoryStep;
  /** The uncompressed layer tar, verified while it streams. May be opened more than once. */
  open(events?: LayerEvents, opts?: LayerReadOptions): AsyncIterable<Buffer>;
  /**
   * Like `open`, for a reader that may stop early: the rest of the blob is then
   * still read through its digest check, not decompressed (src/image/verify.ts
   * provenPrefix). Only a layer whose blob has a digest has it: without one,
   * only the diffID proves the bytes, and that takes the whole tar.
   */
  openPrefix?(events?: LayerEvents, opts?: LayerReadOptions): AsyncIterable<Buffer>;
}

export interface LayerReadOptions {
  /**
   * The reader is done with each chunk of the tar, and every view of it (entry
   * bodies), when it asks for the next: the blob is then read into the same few
   * buffers again (src/io.ts ReadSourceOptions.reuse) and copied only where a
   * decompressor would hold it. Fresh buffers per MiB were most of flatten's
   * peak memory on a layer of many small files (SPEC.md §10).
   */
  volatile?: boolean;
}

export interface Image {
  what: string;
  format: ImageFormat;
  ref?: string;
  platform?: string;
  manifestDigest?: string;
  configDigest?: string;
  config?: ImageConfig;
  /** Bottom first. */
  layers: ImageLayer[];
  close(): Promise<void>;
}

export interface OpenImageOptions {
  /** `--ref name:tag`: which image of an archive holding several. */
  ref?: string;
  /** `--platform os/arch[/variant]`: which image of a multi-platform index (default: the host's). */
  platform?: string;
  onWarning?: WarningSink;
}

function short(d: string): string {
  return d.replace(/^(sha(?:256|512):[a-f0-9]{12})[a-f0-9]+$/, '$1');
}

/** What names the image in a JSON report: where it came from, its format, ref, platform and manifest digest. */
export function imageSummary(image: Image): { image: string; format: ImageFormat; ref?: string; platform?: string; manifest?: string } {
  return {
    image: image.what,
    format: image.format,
    ...(image.ref !== undefined ? { ref: image.ref } : {}),
    ...(image.platform !== undefined ? { platform: image.platform } : {}),
    ...(image.manifestDigest !== undefined ? { manifest: image.manifestDigest } : {}),
  };
}

/** Which image of the archive: an OCI index first, then a docker-save manifest. */
export async function resolveArchive(archive: Archive, sel: Selection): Promise<ResolvedImage> {
  const hasIndex = (await archive.size('index.json')) !== undefined;
  if (hasIndex) {
    const r = await resolveOciLayout(archive, sel);
    if (r) return r;
    if ((await archive.size('manifest.json')) === undefined) throw new WhiteoutError(archive.what, 'index.json lists no images', 'input');
  }
  return resolveDockerArchive(archive, sel, (bytes) => parseConfig(bytes, `${archive.what}: config`).diffIDs);
}

/** One layer of an archive, its blob checked against its descriptor and, when known, its tar against the diffID. */
export function imageLayer(archive: Archive, src: LayerSource, index: number, diffID: Digest | undefined, size: number, history: HistoryStep | undefined): ImageLayer {
  const what = `${archive.what}: layer ${index}${diffID ? ` (${short(formatDigest(diffID))})` : ''}`;
  const layer: ImageLayer = {
    index,
    what,
    size,
    open(events = {}, opts = {}) {
      return tarOf(blobOf(events, opts), events, opts);
    },
  };
  const blobOf = (events: LayerEvents, opts: LayerReadOptions) =>
    verified(
      archive.open(src.member, { reuse: opts.volatile ?? false }),
      { what: `${what} blob`, ...(src.digest ? { digest: src.digest } : {}), ...(src.size !== undefined ? { size: src.size } : {}) },
      events.onBytes,
    );
  const tarOf = (blob: AsyncIterable<Buffer>, events: LayerEvents, opts: LayerReadOptions) =>
    verified(decompress(blob, { name: what, volatile: opts.volatile ?? false, thread: worthAZstdThread(size) }), { what, label: 'diffID', sizeHint: size, ...(diffID ? { digest: diffID } : {}) }, undefined, events.onTar);
  if (src.digest) layer.openPrefix = (events = {}, opts = {}) => provenPrefix(blobOf(events, opts), (blob) => tarOf(blob, events, opts));
  if (src.mediaType !== undefined) layer.mediaType = src.mediaType;
  if (src.digest) layer.digest = formatDigest(src.digest);
  if (diffID) layer.diffID = formatDigest(diffID);
  if (history) layer.history = history;
  return layer;
}

/** The image in an archive already classified as one (see classifyInput). Closing the image closes the archive. */
export async function openArchiveImage(archive: Archive, opts: OpenImageOptions = {}): Promise<Image> {
  try {
    return await readArchiveImage(archive, opts);
  } catch (e) {
    await archive.close();
    throw e;
  }
}

async function readArchiveImage(archive: Archive, opts: OpenImageOptions): Promise<Image> {
  const sel: Selection = {
    ...(opts.ref !== undefined ? { ref: opts.ref } : {}),
    ...(opts.platform !== undefined ? { platform: parsePlatform(opts.platform) } : {}),
  };
  const r = await resolveArchive(archive, sel);
  const config = parseConfig(r.config, `${archive.what}: config`);
  if (config.diffIDs.length !== r.layers.length) {
    throw new WhiteoutError(archive.what, `the config lists ${config.diffIDs.length} diffIDs but the manifest ${r.layers.length} layers`, 'input');
  }
  // One image per platform in a manifest.json archive: a --platform that does not fit is an error, not a silent pick.
  if (sel.platform && config.platform && r.format === 'docker-archive' && !platformMatches(sel.platform, config.platform)) {
    throw new WhiteoutError(archive.what, `the image is ${formatPlatform(config.platform)}, not ${formatPlatform(sel.platform)}`, 'input');
  }
  const history = historyOfLayers(config.history, r.layers.length, (steps) =>
    opts.onWarning?.(`${archive.what}: the history has ${steps} steps that made a layer, but there are ${r.layers.length} layers; mapping them in order`),
  );
  const layers: ImageLayer[] = [];
  for (const [i, src] of r.layers.entries()) {
    const size = src.size ?? (await archive.size(src.member)) ?? 0;
    layers.push(imageLayer(archive, src, i, config.diffIDs[i], size, history[i]));
  }
  const image: Image = { what: archive.what, format: r.format, config, layers, close: () => archive.close() };
  if (r.ref !== undefined) image.ref = r.ref;
  const platform = r.platform ?? (config.platform ? formatPlatform(config.platform) : undefined);
  if (platform !== undefined) image.platform = platform;
  if (r.manifestDigest !== undefined) image.manifestDigest = r.manifestDigest;
  if (r.configDigest !== undefined) image.configDigest = r.configDigest;
  return image;
}

function plainLayer(input: Extract<Input, { kind: 'layer' }>, index: number, size: number): ImageLayer {
  const what = input.what;
  return {
    index,
    what,
    size,
    open(events = {}, opts = {}) {
      const volatile = opts.volatile ?? false;
      const blob = verified(readSource(input.file, { reuse: volatile }), { what, sizeHint: size }, events.onBytes);
      return verified(decompress(blob, { name: what, volatile, thread: worthAZstdThread(size) }), { what, label: 'diffID', sizeHint: size }, undefined, events.onTar);
    },
  };
}

/**
 * Open what the command line names: one image (an OCI layout directory or
 * tar, a `docker save` of any Docker version, a kaniko/crane tarball), or
 * plain layer tars, bottom first.
 */
export async function openImage(inputs: readonly string[], opts: OpenImageOptions = {}): Promise<Image> {
  if (inputs.length === 0) throw new WhiteoutError('usage', 'an image or layer file is needed', 'usage');
  const opened: Input[] = [];
  const closeAll = async () => {
    for (const i of opened) await (i.kind === 'image' ? i.archive.close() : i.close());
  };
  try {
    for (const arg of inputs) opened.push(await classifyInput(arg));
    const first = opened[0] as Input;
    if (first.kind === 'image') {
      if (opened.length > 1) throw new WhiteoutError(inputs[1] ?? 'usage', 'give one image, or plain layer tars only (bottom first)', 'usage');
      const image = await openArchiveImage(first.archive, opts);
      return image;
    }
    const layers: ImageLayer[] = [];
    for (const [i, input] of opened.entries()) {
      if (input.kind === 'image') throw new WhiteoutError(input.archive.what, 'is an image; give one image, or plain layer tars only (bottom first)', 'usage');
      if (opts.ref !== undefined || opts.platform !== undefined) {
        throw new WhiteoutError(opts.ref !== undefined ? '--ref' : '--platform', 'applies to images, not plain layer tars', 'usage');
      }
      layers.push(plainLayer(input, i, (await fs.promises.stat(input.file)).size));
    }
    return { what: inputs.length === 1 ? (inputs[0] as string) : `${inputs.length} layers`, format: 'layers', layers, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
