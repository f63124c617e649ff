/**
 * Hidden files kept on the side during a flatten's first pass over a layer, so
 * a hardlink to one of them (its path hidden by a higher layer, the link
 * visible: go-containerregistry#977) needs no second read of the layer
 * (SPEC.md §13.2). Which hidden file a later link of the layer will need is
 * known only once the layer has been read, so every hidden file is kept while
 * the flatten's budget lasts; past it, the second pass is the fallback.
 *
 * The budget bounds what keeping costs when no link needs it (the usual case):
 * big bodies are a write into the page cache and an unlink, small ones a copy
 * in memory (a file each would cost more than their bytes), and the entries'
 * metadata is held until the layer is done. The second pass it saves
 * re-decompresses the layer up to the last target: on the bench image 1.3 s
 * for 440 MB of its bottom layer.
 *
 * Kept bytes come from the first pass, which reads the whole blob through its
 * digest, so they are proven before anything uses them.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ContentEntry, FileEntry } from '../entry.js';
import { FileBody } from '../fs/file-body.js';
import { writeAll } from '../fs/new-file.js';
import { type InMemoryBody, takeWhole } from '../tar/types.js';

async function collect(body: AsyncIterable<Buffer>, size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  let n = 0;
  for await (const c of body) n += c.copy(out, n);
  return out.subarray(0, n);
}

/** What a flatten may keep, over all its layers: bytes on disk, bytes in memory, entries. */
export interface SpoolBudget {
  /** Bodies kept as files in the spool directory. */
  diskBytes: number;
  /** Bodies under IN_MEMORY bytes, copied into memory (a file each costs more than their bytes) while this lasts. */
  memoryBytes: number;
  /** Entries of any kind (each holds its metadata until its layer is done). */
  entries: number;
}

/**
 * The default: the worst case (a later layer deletes a big tree, and no link
 * needs any of it) costs ~128 MiB of page-cache writes and 8 MiB of copies.
 */
export const SPOOL_BUDGET: Readonly<SpoolBudget> = { diskBytes: 128 << 20, memoryBytes: 8 << 20, entries: 8192 };
/** Bodies smaller than this are kept in memory. */
const IN_MEMORY = 64 << 10;

type Kept =
  | { entry: Exclude<ContentEntry, FileEntry>; file?: undefined; bytes?: undefined }
  | { entry: Omit<FileEntry, 'body'>; file: string; bytes?: undefined }
  | { entry: Omit<FileEntry, 'body'>; file?: undefined; bytes: Buffer };

/** A body kept in memory: handed over whole, or as one chunk. */
function memoryBody(b: Buffer): AsyncIterable<Buffer> & InMemoryBody {
  let taken = false;
  return {
    takeWhole() {
      if (taken) return undefined;
      taken = true;
      return b;
    },
    async *[Symbol.asyncIterator]() {
      if (!taken && b.length > 0) yield b;
      taken = true;
    },
  };
}

export class HiddenSpool {
  private readonly left: SpoolBudget;
  private n = 0;
  private readonly kept = new Map<string, Kept>();
  private made = false;

  /** `dir` must not exist: it is created on first use, and removed by `remove`. */
  constructor(
    private readonly dir: string,
    budget: Readonly<SpoolBudget> = SPOOL_BUDGET,
  ) {
    this.left = { ...budget };
  }

  private static key(layer: number, inode: number): string {
    return `${layer}/${inode}`;
  }

  /**
   * Keep a hidden non-directory of `layer` (its entry number `inode`), if it
   * fits in what is left of the budget; one that does not is not read at all.
   * A file's body is read here, before the next entry is asked for. Returns a
   * promise only when the body must be read as a stream (the merge awaits just
   * those, as the writers do: no promise per entry).
   */
  keep(layer: number, inode: number, e: Exclude<ContentEntry, { kind: 'dir' } | { kind: 'hardlink' }>): Promise<void> | undefined {
    const left = this.left;
    if (left.entries === 0) return undefined;
    const key = HiddenSpool.key(layer, inode);
    if (e.kind !== 'file') {
      left.entries--;
      this.kept.set(key, { entry: e });
      return undefined;
    }
    const { body, ...entry } = e;
    // Small bodies in memory while it lasts, then on disk like the big ones.
    if (e.size < IN_MEMORY && e.size <= left.memoryBytes) {
      left.memoryBytes -= e.size;
      left.entries--;
      // A copy: a view would keep the reader's whole chunk alive.
      const whole = takeWhole(body);
      if (whole) {
        this.kept.set(key, { entry, bytes: Buffer.from(whole) });
        return undefined;
      }
      return collect(body, e.size).then((bytes) => void this.kept.set(key, { entry, bytes }));
    }
    if (e.size > left.diskBytes) return undefined;
    left.diskBytes -= e.size;
    left.entries--;
    return this.toDisk(key, entry, body);
  }

  private async toDisk(key: string, entry: Omit<FileEntry, 'body'>, body: AsyncIterable<Buffer>): Promise<void> {
    if (!this.made) {
      // Not recursive: a directory already there is not ours to fill or remove.
      fs.mkdirSync(this.dir, { mode: 0o700 });
      this.made = true;
    }
    const file = path.join(this.dir, String(this.n++));
    const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of body) writeAll(fd, chunk);
    } finally {
      fs.closeSync(fd);
    }
    this.kept.set(key, { entry, file });
  }

  has(layer: number, inode: number): boolean {
    return this.kept.has(HiddenSpool.key(layer, inode));
  }

  /** The kept entry at `path`, its body read from the spool. */
  entry(layer: number, inode: number, at: string): ContentEntry | undefined {
    const k = this.kept.get(HiddenSpool.key(layer, inode));
    if (!k) return undefined;
    if (k.bytes !== undefined) return { ...k.entry, path: at, body: memoryBody(k.bytes) };
    if (k.file !== undefined) return { ...k.entry, path: at, body: new FileBody(Buffer.from(k.file), k.entry.size) };
    return { ...k.entry, path: at };
  }

  /** The layer is done: its kept files go (the budget they used stays spent). */
  dropLayer(layer: number): void {
    const prefix = `${layer}/`;
    for (const [key, k] of this.kept) {
      if (!key.startsWith(prefix)) continue;
      this.kept.delete(key);
      if (k.file !== undefined) fs.rmSync(k.file, { force: true });
    }
  }

  /** Everything kept goes, and the directory with it. */
  remove(): void {
    this.kept.clear();
    if (this.made) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
