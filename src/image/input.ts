/**
 * What a command-line input is, decided from its content, never its name: an
 * image (a directory layout, or a tar of one, possibly compressed) or a plain
 * layer tar. An image archive holds nothing but image files (`manifest.json`,
 * `index.json`, `oci-layout`, `repositories`, `blobs/…`, `<hex>/…`,
 * `<hex>.json`, `sha256:<hex>`, `<hex>.tar[.gz]`); the first entry that is not
 * one of those makes it a layer, so a layer is told apart after one header.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WhiteoutError, hasCode } from '../errors.js';
import { trackTemp } from '../fs/atomic.js';
import { readSource } from '../io.js';
import { normalizeName } from '../paths.js';
import { decompress, detectCompression } from '../tar/compress.js';
import { readTar } from '../tar/read.js';
import { type Archive, DirArchive, type TarIndex, TarArchive, indexEntry, indexTarFile } from './archive.js';

export type Input =
  | { kind: 'image'; archive: Archive }
  | { kind: 'layer'; file: string; what: string; close: () => Promise<void> };

const MARKERS = ['manifest.json', 'index.json'];
const TOP_FILES = new Set(['manifest.json', 'index.json', 'oci-layout', 'repositories']);
const HEX_DIR = /^[a-f0-9]{64}$/;
const HEX_FILE = /^(?:sha256:)?[a-f0-9]{64}(?:\.json|\.tar|\.tar\.gz|\.tgz|\.tar\.zst)?$/;

/** Could this (normalised) name be part of an image archive rather than a root filesystem? */
export function isImageMember(name: string): boolean {
  if (name === '') return true;
  const slash = name.indexOf('/');
  const top = slash < 0 ? name : name.slice(0, slash);
  if (top === 'blobs' || HEX_DIR.test(top)) return true;
  return slash < 0 && (TOP_FILES.has(name) || HEX_FILE.test(name));
}

/** A temp file that goes away on close and on SIGINT/SIGTERM. */
async function tempFile(prefix: string): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
  const untrack = trackTemp(dir);
  return {
    file: path.join(dir, 'data'),
    remove: async () => {
      await fs.promises.rm(dir, { recursive: true, force: true });
      untrack();
    },
  };
}

async function spool(source: AsyncIterable<Buffer>, file: string): Promise<void> {
  const fh = await fs.promises.open(file, 'wx', 0o600);
  try {
    for await (const chunk of source) await fh.write(chunk, 0, chunk.length);
  } finally {
    await fh.close();
  }
}

/**
 * Scan a tar stream as far as needed: the index if every entry is an image
 * member and a manifest or index is among them, else undefined (a layer).
 */
async function scanForImage(tar: AsyncIterable<Buffer>, what: string): Promise<TarIndex | undefined> {
  const index: TarIndex = new Map();
  try {
    for await (const t of readTar(tar, { name: what })) {
      let name: string;
      try {
        name = normalizeName(t.header.name, what);
      } catch {
        return undefined; // an unsafe name: whatever it is, the layer reader will say what is wrong
      }
      if (!isImageMember(name)) return undefined;
      indexEntry(index, t.header, what);
    }
  } catch (e) {
    // Not a tar at all (or a broken one): let the layer path report it in its own words.
    if (e instanceof WhiteoutError) return undefined;
    throw e;
  }
  return MARKERS.some((m) => index.has(m)) ? index : undefined;
}

async function peek(file: string): Promise<Buffer> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const b = Buffer.alloc(16);
    const { bytesRead } = await fh.read(b, 0, b.length, 0);
    return b.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function classifyFile(file: string, what: string, remove: () => Promise<void>): Promise<Input> {
  const layer: Input = { kind: 'layer', file, what, close: remove };
  let kind;
  try {
    kind = detectCompression(await peek(file), what);
  } catch {
    return layer; // xz/bzip2: the layer reader says so
  }
  if (kind === 'none') {
    const index = await scanForImage(readSource(file), what);
    return index ? { kind: 'image', archive: new TarArchive(file, index, what, remove) } : layer;
  }
  // A compressed archive cannot be read in place: look at its start, and if it is an image, keep it decompressed.
  if (!(await scanForImage(decompress(readSource(file), { name: what }), what))) return layer;
  const tmp = await tempFile('whiteout-image-');
  try {
    await spool(decompress(readSource(file), { name: what }), tmp.file);
    await remove();
    const index = await indexTarFile(tmp.file, what);
    return { kind: 'image', archive: new TarArchive(tmp.file, index, what, tmp.remove) };
  } catch (e) {
    await tmp.remove();
    throw e;
  }
}

/** Keep a stream that can be read only once (stdin, a pipe) in a temp file: inputs are read more than once. */
async function spooled(source: AsyncIterable<Buffer>, what: string): Promise<Input> {
  const tmp = await tempFile('whiteout-stdin-');
  try {
    await spool(source, tmp.file);
  } catch (e) {
    await tmp.remove();
    throw e;
  }
  return classifyFile(tmp.file, what, tmp.remove);
}

/** Classify one command-line input; `-` is standard input. */
export async function classifyInput(arg: string): Promise<Input> {
  if (arg === '-') return spooled(readSource('-'), 'stdin');
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(arg);
  } catch (e) {
    if (hasCode(e, 'ENOENT', 'ENOTDIR')) throw new WhiteoutError(arg, 'no such file or directory', 'input');
    throw e;
  }
  if (st.isDirectory()) {
    const has = (n: string) => fs.existsSync(path.join(arg, n));
    if (!has('index.json') && !has('manifest.json')) {
      throw new WhiteoutError(arg, 'is a directory but not an image layout (no index.json or manifest.json)', 'input');
    }
    return { kind: 'image', archive: new DirArchive(arg) };
  }
  // A FIFO or `<(docker save …)`: read once, so kept like standard input.
  if (!st.isFile()) return spooled(fifoSource(arg), arg);
  return classifyFile(arg, arg, async () => {});
}

async function* fifoSource(file: string): AsyncGenerator<Buffer> {
  yield* fs.createReadStream(file) as AsyncIterable<Buffer>;
}
