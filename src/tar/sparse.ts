/**
 * GNU sparse files: the archive stores only the data segments and a map of
 * where they go; the reader hands out the expanded file (zeros in the holes),
 * so callers never see the difference. Three encodings: old GNU ('S' typeflag,
 * map in the header and extension blocks), PAX 0.1 (`GNU.sparse.map`) and PAX
 * 1.0 (map at the start of the data).
 */
import { WhiteoutError } from '../errors.js';
import { parseNumeric } from './header.js';

export interface SparseSegment {
  offset: number;
  length: number;
}

export interface SparseLayout {
  map: SparseSegment[];
  /** The logical size of the file. */
  realSize: number;
}

/** Which PAX sparse format the records describe, if any. */
export type PaxSparseFormat = '1.0' | '0.1' | null;

const HOLE_CHUNK = 64 * 1024;

/**
 * Old GNU sparse entries (offset, numbytes: 12 octal bytes each) starting at
 * `off`; the list ends at the first entry whose offset field is empty.
 */
export function oldGnuEntries(b: Buffer, off: number, count: number, where: string, at: number): SparseSegment[] {
  const out: SparseSegment[] = [];
  for (let i = 0; i < count; i++) {
    const e = off + i * 24;
    if (b[e] === 0) break;
    out.push({
      offset: parseNumeric(b, e, 12, 'sparse offset', where, at),
      length: parseNumeric(b, e + 12, 12, 'sparse length', where, at),
    });
  }
  return out;
}

/** Decide the PAX sparse format from its records; refuse the ones we cannot read. */
export function paxSparseFormat(pax: Map<string, Buffer>, where: string, at: number): PaxSparseFormat {
  const major = pax.get('GNU.sparse.major')?.toString('latin1');
  const minor = pax.get('GNU.sparse.minor')?.toString('latin1');
  const unsupported = (v: string): never => {
    throw new WhiteoutError(where, `unsupported GNU sparse format ${v} at offset ${at}`, 'input');
  };
  if (major === '1' && minor === '0') return '1.0';
  if (major !== undefined || minor !== undefined) {
    if (major === '0' && pax.has('GNU.sparse.map')) return '0.1';
    return unsupported(`${major ?? '?'}.${minor ?? '?'}`);
  }
  if (pax.has('GNU.sparse.map')) return '0.1';
  // 0.0 repeats GNU.sparse.offset/numbytes records, which a record map cannot hold in order.
  if (pax.has('GNU.sparse.offset') || pax.has('GNU.sparse.numbytes')) unsupported('0.0');
  return null;
}

function decimal(s: string, what: string, fail: (why: string) => never): number {
  if (!/^\d{1,16}$/.test(s) || Number(s) > Number.MAX_SAFE_INTEGER) fail(`bad ${what} '${s}'`);
  return Number(s);
}

/** The real size from PAX sparse records (`GNU.sparse.size` in 0.x, `realsize` in 1.0). */
export function paxRealSize(pax: Map<string, Buffer>, fail: (why: string) => never): number {
  const v = pax.get('GNU.sparse.realsize') ?? pax.get('GNU.sparse.size');
  if (v === undefined) return fail('GNU sparse file without a real size');
  return decimal(v.toString('latin1'), 'GNU sparse size', fail);
}

/** PAX 0.1: `GNU.sparse.map` is "offset,length,offset,length,...". */
export function parseMap01(pax: Map<string, Buffer>, fail: (why: string) => never): SparseSegment[] {
  const text = pax.get('GNU.sparse.map')?.toString('latin1') ?? '';
  const nums = text === '' ? [] : text.split(',').map((s) => decimal(s, 'GNU.sparse.map value', fail));
  if (nums.length % 2 !== 0) fail('odd number of values in GNU.sparse.map');
  const blocks = pax.get('GNU.sparse.numblocks');
  if (blocks !== undefined && decimal(blocks.toString('latin1'), 'GNU.sparse.numblocks', fail) !== nums.length / 2) {
    fail('GNU.sparse.numblocks does not match GNU.sparse.map');
  }
  return pairs(nums);
}

function pairs(nums: number[]): SparseSegment[] {
  const out: SparseSegment[] = [];
  for (let i = 0; i + 1 < nums.length; i += 2) out.push({ offset: nums[i]!, length: nums[i + 1]! });
  return out;
}

/**
 * PAX 1.0: the data starts with decimal lines: a count, then offset/length
 * pairs, padded to a block. Feed it blocks until it returns the map.
 */
export class Map10Parser {
  private text = '';
  private nums: number[] = [];
  private want = -1;

  constructor(private readonly fail: (why: string) => never) {}

  /** Add one block; the map once complete, else undefined. */
  push(block: Buffer): SparseSegment[] | undefined {
    this.text += block.toString('latin1');
    for (;;) {
      const nl = this.text.indexOf('\n');
      if (nl < 0) break;
      const n = decimal(this.text.slice(0, nl), 'GNU sparse map value', this.fail);
      this.text = this.text.slice(nl + 1);
      if (this.want < 0) this.want = 2 * n;
      else this.nums.push(n);
      if (this.nums.length === this.want) return pairs(this.nums);
    }
    if (this.text.length > 32) this.fail('bad GNU sparse map');
    return undefined;
  }
}

/** Segments in order, not overlapping, inside the file, and covering exactly the stored data. */
export function checkLayout(layout: SparseLayout, stored: number, fail: (why: string) => never): void {
  let end = 0;
  let sum = 0;
  for (const s of layout.map) {
    if (s.offset < end) fail('sparse map entries overlap or are out of order');
    end = s.offset + s.length;
    if (end > layout.realSize) fail('sparse map entry beyond the end of the file');
    sum += s.length;
  }
  if (sum !== stored) fail(`sparse map holds ${sum} bytes but the entry stores ${stored}`);
}

/**
 * The expanded file: stored segments from `read` (at most `max` bytes a call),
 * zeros for holes in chunks of at most 64 KiB. `check` runs before each step so
 * the reader can refuse a body read out of turn.
 */
export async function* expandSparse(layout: SparseLayout, read: (max: number) => Promise<Buffer>, check: () => void): AsyncGenerator<Buffer> {
  let pos = 0;
  for (const s of layout.map) {
    yield* zeros(s.offset - pos, check);
    let left = s.length;
    while (left > 0) {
      check();
      const b = await read(left);
      left -= b.length;
      yield b;
    }
    pos = s.offset + s.length;
  }
  yield* zeros(layout.realSize - pos, check);
}

function* zeros(n: number, check: () => void): Generator<Buffer> {
  while (n > 0) {
    check();
    const k = Math.min(n, HOLE_CHUNK);
    // A fresh buffer each time: the consumer may keep or modify what it gets.
    yield Buffer.alloc(k);
    n -= k;
  }
}
