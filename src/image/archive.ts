/**
 * Where an image's files live: a directory (an OCI layout, or an unpacked
 * `docker save`) or an uncompressed tar holding the same files. Both answer
 * "how big is member X" and "stream member X", by name, so the format readers
 * never care which. Member names come from documents inside the image and
 * are untrusted: they are normalised (a `..` is refused) and never leave the
 * archive, and a directory archive refuses a path that resolves outside it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { WhiteoutError, hasCode } from '../errors.js';
import { display, normalizeName, parentOf } from '../paths.js';
import { BLOCK, padding, parseHeader } from '../tar/header.js';
import { readTar } from '../tar/read.js';
import { type ReadSourceOptions, readFileRange } from '../io.js';

export interface Archive {
  /** Names the archive in messages. */
  readonly what: string;
  /** Size of a regular-file member, or undefined when there is none by that name. */
  size(name: string): Promise<number | undefined>;
  /** The member's bytes; with `reuse`, in buffers refilled once the next chunk is asked for. */
  open(name: string, opts?: ReadSourceOptions): AsyncIterable<Buffer>;
  close(): Promise<void>;
}

function memberName(name: string, what: string): string {
  return normalizeName(name, `${what}: member '${display(name)}'`);
}

/** An OCI layout directory, or a `docker save` unpacked into one. */
export class DirArchive implements Archive {
  private realRoot: string | undefined;

  constructor(
    readonly root: string,
    readonly what: string = root,
  ) {}

  private async resolve(name: string): Promise<string | undefined> {
    const rel = memberName(name, this.what);
    this.realRoot ??= await fs.promises.realpath(this.root);
    let real: string;
    try {
      real = await fs.promises.realpath(path.join(this.root, rel));
    } catch (e) {
      if (hasCode(e, 'ENOENT', 'ENOTDIR')) return undefined;
      throw e;
    }
    if (real !== this.realRoot && !real.startsWith(`${this.realRoot}${path.sep}`)) {
      throw new WhiteoutError(this.what, `member '${display(rel)}' resolves outside the layout`, 'unsafe');
    }
    return real;
  }

  async size(name: string): Promise<number | undefined> {
    const real = await this.resolve(name);
    if (!real) return undefined;
    const st = await fs.promises.stat(real);
    return st.isFile() ? st.size : undefined;
  }

  async *open(name: string, opts: ReadSourceOptions = {}): AsyncGenerator<Buffer> {
    const real = await this.resolve(name);
    if (!real) throw new WhiteoutError(this.what, `'${display(name)}' is missing`, 'input');
    const fh = await fs.promises.open(real, fs.constants.O_RDONLY);
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new WhiteoutError(this.what, `'${display(name)}' is not a regular file`, 'input');
      yield* readFileRange(fh.fd, 0, st.size, this.what, opts);
    } finally {
      await fh.close();
    }
  }

  async close(): Promise<void> {}
}

type Member =
  | { type: 'file'; offset: number; size: number; sparse: boolean }
  | { type: 'symlink'; target: string }
  | { type: 'hardlink'; target: string }
  | { type: 'other' };

/** What a tar archive holds, by normalised name (the last entry for a name wins, as on extraction). */
export type TarIndex = Map<string, Member>;

/** Record one tar entry in an index; names are normalised, a `..` is refused. */
export function indexEntry(index: TarIndex, h: { name: string; type: string; size: number; offset: number; linkname: string; sparse?: boolean }, what: string): string {
  const name = memberName(h.name, what);
  if (h.type === 'file') index.set(name, { type: 'file', offset: h.offset, size: h.size, sparse: h.sparse === true });
  else if (h.type === 'symlink') index.set(name, { type: 'symlink', target: h.linkname });
  else if (h.type === 'hardlink') index.set(name, { type: 'hardlink', target: memberName(h.linkname, what) });
  else index.set(name, { type: 'other' });
  return name;
}

/** Index a whole uncompressed tar file (headers only; bodies are skipped). */
export async function indexTarFile(file: string, what: string): Promise<TarIndex> {
  const index: TarIndex = new Map();
  const fh = await fs.promises.open(file, 'r');
  try {
    const st = await fh.stat();
    for await (const t of readTar(readFileRange(fh.fd, 0, st.size, what), { name: what })) indexEntry(index, t.header, what);
  } finally {
    await fh.close();
  }
  return index;
}

/** An uncompressed tar file on disk, read in place through an index of its members. */
export class TarArchive implements Archive {
  private fh: fs.promises.FileHandle | undefined;
  private readonly dataOffsets = new Map<string, number>();

  constructor(
    private readonly file: string,
    private readonly index: TarIndex,
    readonly what: string,
    private readonly onClose: () => Promise<void> = async () => {},
  ) {}

  /** Follow symlinks and hardlinks inside the archive (never out of it) to a file member. */
  private lookup(name: string): { name: string; member: Extract<Member, { type: 'file' }> } | undefined {
    let cur = memberName(name, this.what);
    for (let hops = 0; hops < 32; hops++) {
      const m = this.index.get(cur);
      if (!m) return undefined;
      if (m.type === 'file') return { name: cur, member: m };
      if (m.type === 'other') return undefined;
      if (m.type === 'hardlink') {
        cur = m.target;
        continue;
      }
      // skopeo's docker-archive links `<id>/layer.tar` to `../<diffid>.tar`: resolve against the link's directory.
      const joined = m.target.startsWith('/') ? m.target : `${parentOf(cur)}/${m.target}`;
      const parts: string[] = [];
      for (const c of joined.split('/')) {
        if (c === '' || c === '.') continue;
        if (c === '..') {
          if (parts.length === 0) throw new WhiteoutError(this.what, `member '${display(cur)}' links outside the archive`, 'unsafe');
          parts.pop();
        } else parts.push(c);
      }
      cur = parts.join('/');
    }
    throw new WhiteoutError(this.what, `member '${display(name)}': too many levels of links`, 'input');
  }

  private async handle(): Promise<fs.promises.FileHandle> {
    this.fh ??= await fs.promises.open(this.file, 'r');
    return this.fh;
  }

  async size(name: string): Promise<number | undefined> {
    return this.lookup(name)?.member.size;
  }

  /** The entry's data starts after its header block and any PAX/GNU extension blocks before it. */
  private async dataOffset(name: string, headerOffset: number): Promise<number> {
    const known = this.dataOffsets.get(name);
    if (known !== undefined) return known;
    const fh = await this.handle();
    const block = Buffer.alloc(BLOCK);
    let pos = headerOffset;
    for (let i = 0; i < 16; i++) {
      const { bytesRead } = await fh.read(block, 0, BLOCK, pos);
      if (bytesRead !== BLOCK) break;
      const raw = parseHeader(block, this.what, pos);
      // 'x' PAX, 'g' global PAX, 'L'/'K' GNU long name/link: skip their data.
      if (raw.typeflag === 0x78 || raw.typeflag === 0x67 || raw.typeflag === 0x4c || raw.typeflag === 0x4b) {
        pos += BLOCK + raw.size + padding(raw.size);
        continue;
      }
      this.dataOffsets.set(name, pos + BLOCK);
      return pos + BLOCK;
    }
    throw new WhiteoutError(this.what, `cannot find the data of member '${display(name)}'`, 'input');
  }

  async *open(name: string, opts: ReadSourceOptions = {}): AsyncGenerator<Buffer> {
    const found = this.lookup(name);
    if (!found) throw new WhiteoutError(this.what, `'${display(name)}' is missing`, 'input');
    if (found.member.sparse) throw new WhiteoutError(this.what, `member '${display(found.name)}' is stored sparse; it cannot be read in place`, 'input');
    const start = await this.dataOffset(found.name, found.member.offset);
    yield* readFileRange((await this.handle()).fd, start, found.member.size, this.what, opts);
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = undefined;
    await this.onClose();
  }
}
