/**
 * Streaming tar reader. Bodies are handed out as views of the incoming chunks,
 * never gathered, so memory stays bounded by the chunk size plus the (limited)
 * extension headers. Every error names the stream and the byte offset in the
 * uncompressed stream.
 */
import { WhiteoutError } from '../errors.js';
import { BLOCK, isZeroBlock, padding, parseHeader, parseNumeric, type RawHeader } from './header.js';
import { applyPax, parsePax } from './pax.js';
import { Map10Parser, checkLayout, expandSparse, oldGnuEntries, parseMap01, paxRealSize, paxSparseFormat, type SparseLayout } from './sparse.js';
import { type InMemoryBody, defaultTarLimits, type TarEntryInfo, type TarLimits, type TarReadEntry, type TarType } from './types.js';

export interface ReadTarOptions {
  /** Names the stream in error messages (e.g. the layer's file name). */
  name?: string;
  limits?: Partial<TarLimits>;
  /**
   * An entry whose type flag is none of POSIX's or GNU's is an error unless
   * this is given: then it is told of the entry, which is skipped by its size
   * (as Go's archive/tar reads an unknown type: with data), and reading goes on.
   * For a linter that must see the whole tar (check).
   */
  onUnknownType?: (u: UnknownEntry) => void;
}

/** An entry of a type flag the reader does not know. */
export interface UnknownEntry {
  /** The flag as one printable char, or `\xNN`. */
  flag: string;
  name: string;
  /** Offset of the entry's first header (its extension headers included). */
  offset: number;
}

/** What the reader found next: an entry, or (with onUnknownType) only the body state of one it skips. */
interface Found {
  entry?: TarReadEntry;
  state: BodyState;
}

const EMPTY = Buffer.alloc(0);

/** A cursor over the source's chunks. */
class ByteSource {
  private chunk: Buffer = EMPTY;
  private pos = 0;
  /** Stream offset of chunk[0]. */
  private base = 0;
  private done = false;

  constructor(
    private readonly it: AsyncIterator<Buffer>,
    private readonly where: string,
  ) {}

  get offset(): number {
    return this.base + this.pos;
  }

  truncated(): WhiteoutError {
    return new WhiteoutError(this.where, `truncated archive: unexpected end at offset ${this.base + this.chunk.length}`, 'input');
  }

  /** Next non-empty chunk, once the current one is used up. */
  private async pull(): Promise<boolean> {
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      if (r.value.length === 0) continue;
      this.base += this.chunk.length;
      this.chunk = r.value;
      this.pos = 0;
      return true;
    }
    return false;
  }

  /** Exactly n bytes: a view when one chunk holds them, else a copy. Null on EOF before the first byte when `eofOk`. */
  private async fill(n: number, eofOk: boolean): Promise<Buffer | null> {
    if (this.chunk.length - this.pos >= n) {
      const b = this.chunk.subarray(this.pos, this.pos + n);
      this.pos += n;
      return b;
    }
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      if (this.pos === this.chunk.length && !(await this.pull())) {
        if (got === 0 && eofOk) return null;
        throw this.truncated();
      }
      const k = Math.min(n - got, this.chunk.length - this.pos);
      this.chunk.copy(out, got, this.pos, this.pos + k);
      this.pos += k;
      got += k;
    }
    return out;
  }

  /**
   * The synchronous half of the cursor: a view of the next `n` bytes when the
   * current chunk holds them, else undefined with nothing consumed. The reader
   * tries these first; awaiting a resolved promise for every header and
   * padding was most of its cost on a layer of small entries (SPEC.md §10).
   */
  takeSync(n: number): Buffer | undefined {
    if (this.chunk.length - this.pos < n) return undefined;
    const b = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  skipSync(n: number): boolean {
    if (this.chunk.length - this.pos < n) return false;
    this.pos += n;
    return true;
  }

  /** Where the cursor is in the current chunk, to go back to when a synchronous attempt falls short. */
  mark(): number {
    return this.pos;
  }

  rewind(mark: number): void {
    this.pos = mark;
  }

  /** A header block, or null on a clean EOF at a block boundary. */
  block(): Promise<Buffer | null> {
    return this.fill(BLOCK, true);
  }

  async exact(n: number): Promise<Buffer> {
    const b = await this.fill(n, false);
    if (!b) throw this.truncated();
    return b;
  }

  /** Between 1 and `max` bytes, as a view of the current chunk. */
  async some(max: number): Promise<Buffer> {
    if (this.pos === this.chunk.length && !(await this.pull())) throw this.truncated();
    const n = Math.min(max, this.chunk.length - this.pos);
    const b = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.pos === this.chunk.length && !(await this.pull())) throw this.truncated();
      const k = Math.min(n, this.chunk.length - this.pos);
      this.pos += k;
      n -= k;
    }
  }

  /** Read the rest without looking, so a caller hashing the raw stream sees every byte. */
  async drain(): Promise<void> {
    this.pos = this.chunk.length;
    while (await this.pull()) this.pos = this.chunk.length;
  }

  /**
   * Close the source. After a failure, an error from closing is dropped: it must not
   * hide the error that got us here. After a clean end or a reader that stopped, it
   * is thrown: a source may check what it read when closed (src/image/verify.ts provenPrefix).
   */
  async close(afterFailure: boolean): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      await this.it.return?.();
    } catch (e) {
      if (!afterFailure) throw e;
    }
  }
}

/** What the reader still owes the archive for the current entry's body. */
interface BodyState {
  /** Stored bytes not read yet. */
  remaining: number;
  pad: number;
  /** Set when the reader moves on: the body may no longer be read. */
  stale: boolean;
}

function staleError(): Error {
  return new Error('tar entry body read after the next entry was requested');
}

async function* plainBody(src: ByteSource, st: BodyState): AsyncGenerator<Buffer> {
  for (;;) {
    if (st.remaining === 0) return;
    if (st.stale) throw staleError();
    const b = await src.some(st.remaining);
    // Count before yielding: a consumer that stops here leaves the rest to skip.
    st.remaining -= b.length;
    yield b;
  }
}

/**
 * A body that can also be taken whole, synchronously, when the chunk in hand
 * holds all of it (most files of a layer are small): see `takeWhole`.
 */
function bodyOf(src: ByteSource, st: BodyState): AsyncIterable<Buffer> & InMemoryBody {
  return {
    [Symbol.asyncIterator]: () => plainBody(src, st),
    takeWhole(): Buffer | undefined {
      if (st.stale) throw staleError();
      const b = src.takeSync(st.remaining);
      if (b) st.remaining = 0;
      return b;
    },
  };
}

function shownFlag(flag: number): string {
  return flag >= 0x20 && flag < 0x7f ? String.fromCharCode(flag) : `\\x${flag.toString(16).padStart(2, '0')}`;
}

/** The type of a POSIX or GNU type flag; undefined for any other. */
function knownType(flag: number, name: string): TarType | undefined {
  switch (flag) {
    case 0x30: // '0'
    case 0x37: // '7' contiguous file
    case 0x53: // 'S' GNU sparse
      return 'file';
    case 0: // v7: a trailing slash meant a directory
      return name.endsWith('/') ? 'dir' : 'file';
    case 0x31:
      return 'hardlink';
    case 0x32:
      return 'symlink';
    case 0x33:
      return 'char';
    case 0x34:
      return 'block';
    case 0x35:
      return 'dir';
    case 0x36:
      return 'fifo';
    default:
      return undefined;
  }
}

function typeOf(flag: number, name: string, where: string, at: number): TarType {
  const t = knownType(flag, name);
  if (t === undefined) throw new WhiteoutError(where, `unsupported tar entry type '${shownFlag(flag)}' at offset ${at}`, 'input');
  return t;
}

/** 'x' (PAX), 'L' (GNU long name), 'K' (GNU long link): headers that describe the entry after them. */
function isExtension(flag: number): boolean {
  return flag === 0x78 || flag === 0x4c || flag === 0x4b;
}

interface Pending {
  start: number;
  pax?: Map<string, Buffer>;
  paxAt: number;
  longName?: string;
  longLink?: string;
  /** Extension bytes held for this entry, against limits.maxHeaderBytes. */
  held: number;
}

/** Text of a GNU long name/link: a C string. */
function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.toString('latin1', 0, z < 0 ? b.length : z);
}

class TarReader {
  constructor(
    private readonly src: ByteSource,
    private readonly where: string,
    private readonly limits: TarLimits,
    private readonly onUnknownType?: (u: UnknownEntry) => void,
  ) {}

  private fail(why: string, code: 'input' | 'limit' = 'input'): never {
    throw new WhiteoutError(this.where, why, code);
  }

  private hold(p: Pending, n: number, what: string, at: number): void {
    p.held += n;
    if (n > this.limits.maxHeaderBytes || p.held > this.limits.maxHeaderBytes) {
      this.fail(`${what} at offset ${at} is larger than the limit of ${this.limits.maxHeaderBytes} bytes (raise it with --max-header)`, 'limit');
    }
  }

  /**
   * The next entry without awaiting, when the current chunk holds its headers
   * (ustar, GNU long names, PAX) whole and it is not sparse; undefined, with
   * nothing consumed, when `next` must do it.
   */
  nextSync(): Found | null | undefined {
    const src = this.src;
    const start = src.mark();
    let p: Pending | undefined;
    for (;;) {
      const at = src.offset;
      const block = src.takeSync(BLOCK);
      if (!block) break;
      if (isZeroBlock(block)) {
        if (p) this.fail(`extension header at offset ${p.start} is followed by the end of the archive at offset ${at}`);
        return null;
      }
      const raw = parseHeader(block, this.where, at);
      const flag = raw.typeflag;
      if (flag === 0x53) break;
      if (flag === 0x67) {
        this.hold({ start: at, paxAt: at, held: 0 }, raw.size, 'PAX global header', at);
        if (!src.skipSync(raw.size + padding(raw.size))) break;
        continue;
      }
      p ??= { start: at, paxAt: at, held: 0 };
      if (isExtension(flag)) {
        this.holdExtension(p, raw, at);
        const data = src.takeSync(raw.size);
        if (!data || !src.skipSync(padding(raw.size))) break;
        // A sparse entry's map may need reading past this chunk: the async path does those.
        if (!this.extension(p, flag, data, at, false)) break;
        continue;
      }
      return this.plainEntry(raw, at, p);
    }
    src.rewind(start);
    return undefined;
  }

  /** The next entry, or null at the end of the archive. */
  async next(): Promise<Found | null> {
    const src = this.src;
    let p: Pending | undefined;
    for (;;) {
      const at = src.offset;
      const block = await src.block();
      if (block === null || isZeroBlock(block)) {
        if (p) this.fail(`extension header at offset ${p.start} is followed by the end of the archive at offset ${at}`);
        return null;
      }
      const raw = parseHeader(block, this.where, at);
      const flag = raw.typeflag;
      if (flag === 0x67) {
        // 'g': global records. Read past them; they change nothing here.
        this.hold({ start: at, paxAt: at, held: 0 }, raw.size, 'PAX global header', at);
        await src.skip(raw.size + padding(raw.size));
        continue;
      }
      p ??= { start: at, paxAt: at, held: 0 };
      if (isExtension(flag)) {
        this.holdExtension(p, raw, at);
        this.extension(p, flag, await src.exact(raw.size), at);
        await src.skip(padding(raw.size));
        continue;
      }
      return this.entry(raw, block, at, p);
    }
  }

  private holdExtension(p: Pending, raw: RawHeader, at: number): void {
    const flag = raw.typeflag;
    this.hold(p, raw.size, flag === 0x78 ? 'PAX header' : flag === 0x4c ? 'GNU long name' : 'GNU long link', at);
  }

  /**
   * Fold an extension header's data (PAX records, a GNU long name or link) into
   * the pending entry. False, with nothing folded, for PAX records that make the
   * entry sparse when `sparseOk` is not set.
   */
  private extension(p: Pending, flag: number, data: Buffer, at: number, sparseOk = true): boolean {
    if (flag === 0x78) {
      const recs = parsePax(data, this.where, at + BLOCK);
      if (!sparseOk && paxSparseFormat(recs, this.where, at)) return false;
      p.pax = p.pax ? new Map([...p.pax, ...recs]) : recs;
      p.paxAt = at;
    } else if (flag === 0x4c) p.longName = cString(data);
    else p.longLink = cString(data);
    return true;
  }

  /** A non-sparse entry (the synchronous path). */
  private plainEntry(raw: RawHeader, at: number, p: Pending): Found {
    const h = this.info(raw, p);
    if (p.pax) applyPax(h, p.pax, this.where, p.paxAt);
    if (this.onUnknownType && knownType(raw.typeflag, h.name) === undefined) {
      this.onUnknownType({ flag: shownFlag(raw.typeflag), name: h.name, offset: p.start });
      return { state: { remaining: h.size, pad: padding(h.size), stale: false } };
    }
    h.type = typeOf(raw.typeflag, h.name, this.where, at);
    // Only regular files carry data, whatever the size field says: Go's
    // archive/tar (containerd, moby) reads every other type as header-only.
    const stored = h.type === 'file' ? h.size : 0;
    if (h.type !== 'file') h.size = 0;
    const st: BodyState = { remaining: stored, pad: padding(stored), stale: false };
    return { entry: { header: h, body: bodyOf(this.src, st) }, state: st };
  }

  private info(raw: RawHeader, p: Pending): TarEntryInfo {
    return {
      name: p.longName ?? raw.name,
      type: 'file',
      size: raw.size,
      mode: raw.mode & 0o7777,
      uid: raw.uid,
      gid: raw.gid,
      uname: raw.uname,
      gname: raw.gname,
      mtime: raw.mtime,
      linkname: p.longLink ?? raw.linkname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
      xattrs: new Map(),
      pax: new Map(),
      offset: p.start,
      sparse: false,
    };
  }

  private async entry(raw: RawHeader, block: Buffer, at: number, p: Pending): Promise<Found> {
    const fmt = p.pax ? paxSparseFormat(p.pax, this.where, p.paxAt) : undefined;
    if (raw.typeflag !== 0x53 && !fmt) return this.plainEntry(raw, at, p);
    const h = this.info(raw, p);
    // Parse the old GNU sparse map now: `block` is only a view of a chunk.
    let layout = raw.typeflag === 0x53 ? await this.oldGnuSparse(block, at, p) : undefined;
    if (p.pax) {
      // PAX wins over the ustar fields, `size` included: a reader that kept the
      // ustar size would see different entries than Go's (CVE-2025-62518).
      applyPax(h, p.pax, this.where, p.paxAt);
      if (fmt) {
        const fail = (why: string): never => this.fail(`${why} in PAX header at offset ${p.paxAt}`);
        const sparseName = p.pax.get('GNU.sparse.name');
        if (sparseName && sparseName.length > 0) {
          if (sparseName.includes(0)) fail('NUL byte in GNU.sparse.name');
          h.name = sparseName.toString('latin1');
        }
        layout = { map: fmt === '0.1' ? parseMap01(p.pax, fail) : [], realSize: paxRealSize(p.pax, fail) };
      }
    }
    h.type = typeOf(raw.typeflag, h.name, this.where, at);
    let stored = h.type === 'file' ? h.size : 0;
    if (h.type !== 'file') h.size = 0;
    const st: BodyState = { remaining: stored, pad: padding(stored), stale: false };
    // Not undefined: a 'S' entry has the old GNU map, any other got here with PAX sparse records.
    if (!layout) return this.fail(`sparse entry without a map at offset ${at}`);
    if (h.type !== 'file') this.fail(`sparse map on a ${h.type} entry at offset ${at}`);
    const fail = (why: string): never => this.fail(`${why} for the entry at offset ${at}`);
    if (fmt === '1.0') {
      layout.map = await this.map10(st, p, fail);
      stored = st.remaining;
    }
    checkLayout(layout, stored, fail);
    h.size = layout.realSize;
    h.sparse = true;
    const read = async (max: number): Promise<Buffer> => {
      if (st.stale) throw staleError();
      const b = await this.src.some(Math.min(max, st.remaining));
      st.remaining -= b.length;
      return b;
    };
    const check = (): void => {
      if (st.stale) throw staleError();
    };
    return { entry: { header: h, body: expandSparse(layout, read, check) }, state: st };
  }

  /** Old GNU 'S': four entries in the header, then extension blocks of 21. */
  private async oldGnuSparse(block: Buffer, at: number, p: Pending): Promise<SparseLayout> {
    const map = oldGnuEntries(block, 386, 4, this.where, at);
    const realSize = parseNumeric(block, 483, 12, 'sparse real size', this.where, at);
    let extended = block[482] !== 0;
    while (extended) {
      const eat = this.src.offset;
      this.hold(p, BLOCK, 'GNU sparse map', eat);
      const ext = await this.src.exact(BLOCK);
      map.push(...oldGnuEntries(ext, 0, 21, this.where, eat));
      extended = ext[504] !== 0;
    }
    return { map, realSize };
  }

  /** PAX 1.0: the map sits in whole blocks at the start of the stored data. */
  private async map10(st: BodyState, p: Pending, fail: (why: string) => never): Promise<SparseLayout['map']> {
    const parser = new Map10Parser(fail);
    for (;;) {
      if (st.remaining < BLOCK) fail('GNU sparse map runs past the data');
      this.hold(p, BLOCK, 'GNU sparse map', this.src.offset);
      const b = await this.src.exact(BLOCK);
      st.remaining -= BLOCK;
      // The map is whole blocks, so the padding after the data is unchanged.
      const map = parser.push(b);
      if (map) return map;
    }
  }
}

/**
 * Read a tar stream entry by entry. Read each body (or not) before asking for
 * the next entry; what is not read is skipped. The archive ends at a zero block
 * or a clean EOF at a header boundary; whatever follows the end marker is read
 * and ignored.
 */
export async function* readTar(source: AsyncIterable<Buffer>, opts: ReadTarOptions = {}): AsyncGenerator<TarReadEntry> {
  const where = opts.name ?? 'tar archive';
  const limits: TarLimits = { ...defaultTarLimits, ...opts.limits };
  const src = new ByteSource(source[Symbol.asyncIterator](), where);
  const reader = new TarReader(src, where, limits, opts.onUnknownType);
  let failed = false;
  try {
    let prev: BodyState | undefined;
    for (;;) {
      if (prev) {
        prev.stale = true;
        if (!src.skipSync(prev.remaining + prev.pad)) await src.skip(prev.remaining + prev.pad);
      }
      let next = reader.nextSync();
      if (next === undefined) next = await reader.next();
      if (!next) break;
      prev = next.state;
      if (next.entry) yield next.entry;
    }
    await src.drain();
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await src.close(failed);
  }
}
