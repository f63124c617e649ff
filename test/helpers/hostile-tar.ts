/**
 * A raw tar builder for hostile inputs. Our own writer refuses what an
 * attacker would send (`..` names, NUL bytes, bad checksums, lying size
 * fields, 0/0 devices), so hostile layers are assembled here byte by byte:
 * every header field can be given as a number, a string or raw bytes, and the
 * checksum can be computed, forced or left wrong.
 *
 * Also an independent tar *reader* (ustar + PAX + GNU L/K), used to look at
 * what `convert` wrote without trusting the codec under test.
 */
import zlib from 'node:zlib';
import { compress as zstdCompress } from 'zstd-napi';

export const BLOCK = 512;

/** A header field: a number (octal), a string (latin1 bytes) or raw bytes. */
export type Field = number | string | Buffer;

export interface RawHeader {
  name?: Field;
  mode?: Field;
  uid?: Field;
  gid?: Field;
  size?: Field;
  mtime?: Field;
  /** A character ('0', '5', 'x') or a byte value. */
  typeflag?: string | number;
  linkname?: Field;
  /** 'ustar' (POSIX "ustar\0" "00"), 'gnu' ("ustar  \0"), 'v7' (no magic), or raw 8 bytes at 257. */
  magic?: 'ustar' | 'gnu' | 'v7' | Buffer;
  uname?: Field;
  gname?: Field;
  devmajor?: Field;
  devminor?: Field;
  prefix?: Field;
  /** 'auto' (correct), 'bad' (off by one), or a value written as octal. */
  checksum?: 'auto' | 'bad' | number;
  /** Raw bytes patched over the block after everything else, before the checksum: [offset, bytes]. */
  patch?: [number, Buffer][];
}

function put(b: Buffer, off: number, len: number, v: Field | undefined, numeric: boolean): void {
  if (v === undefined) return;
  if (Buffer.isBuffer(v)) {
    v.copy(b, off, 0, Math.min(len, v.length));
    return;
  }
  if (typeof v === 'number') {
    if (!numeric) throw new Error('number given for a string field');
    const s = v.toString(8).padStart(len - 1, '0');
    if (s.length > len - 1) throw new Error(`octal ${v} does not fit ${len} bytes: pass base256()`);
    b.write(s, off, len - 1, 'latin1');
    b[off + len - 1] = 0;
    return;
  }
  b.write(v, off, Math.min(len, Buffer.byteLength(v, 'latin1')), 'latin1');
}

/** A base-256 (GNU binary) numeric field of `len` bytes; negative values in two's complement. */
export function base256(v: bigint, len: number): Buffer {
  const b = Buffer.alloc(len);
  let x = v < 0n ? (1n << BigInt(len * 8)) + v : v;
  for (let i = len - 1; i >= 0; i--) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  b[0] = b[0]! | 0x80;
  return b;
}

/** One 512-byte header block. Defaults: a ustar regular file, mode 0644, owner 0:0, mtime 1700000000. */
export function header(h: RawHeader): Buffer {
  const b = Buffer.alloc(BLOCK);
  put(b, 0, 100, h.name ?? '', false);
  put(b, 100, 8, h.mode ?? 0o644, true);
  put(b, 108, 8, h.uid ?? 0, true);
  put(b, 116, 8, h.gid ?? 0, true);
  put(b, 124, 12, h.size ?? 0, true);
  put(b, 136, 12, h.mtime ?? 1_700_000_000, true);
  const t = h.typeflag ?? '0';
  b[156] = typeof t === 'number' ? t : t.charCodeAt(0);
  put(b, 157, 100, h.linkname ?? '', false);
  const magic = h.magic ?? 'ustar';
  if (magic === 'ustar') b.write('ustar\u000000', 257, 8, 'latin1');
  else if (magic === 'gnu') b.write('ustar  \u0000', 257, 8, 'latin1');
  else if (Buffer.isBuffer(magic)) magic.copy(b, 257, 0, 8);
  if (magic !== 'v7') {
    put(b, 265, 32, h.uname ?? '', false);
    put(b, 297, 32, h.gname ?? '', false);
    put(b, 329, 8, h.devmajor ?? 0, true);
    put(b, 337, 8, h.devminor ?? 0, true);
    put(b, 345, 155, h.prefix ?? '', false);
  }
  for (const [off, bytes] of h.patch ?? []) bytes.copy(b, off);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  const cs = h.checksum ?? 'auto';
  const value = cs === 'auto' ? sum : cs === 'bad' ? sum + 1 : cs;
  b.write(`${value.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return b;
}

export function pad(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

const asBuf = (s: string | Buffer): Buffer => (Buffer.isBuffer(s) ? s : Buffer.from(s, 'latin1'));

/** A header plus its data, padded. `size` defaults to the data length but may lie. */
export function entry(h: RawHeader, data: string | Buffer = Buffer.alloc(0)): Buffer {
  const d = asBuf(data);
  return Buffer.concat([header({ size: d.length, ...h }), pad(d)]);
}

export type Meta = Omit<RawHeader, 'name' | 'typeflag' | 'linkname' | 'size'>;

export const file = (name: string | Buffer, content: string | Buffer = '', m: Meta = {}): Buffer => entry({ ...m, name, typeflag: '0' }, content);
export const dir = (name: string | Buffer, m: Meta = {}): Buffer => entry({ mode: 0o755, ...m, name, typeflag: '5' });
export const symlink = (name: string | Buffer, target: string | Buffer, m: Meta = {}): Buffer =>
  entry({ mode: 0o777, ...m, name, typeflag: '2', linkname: target });
export const hardlink = (name: string | Buffer, target: string | Buffer, m: Meta = {}): Buffer => entry({ ...m, name, typeflag: '1', linkname: target });
export const chardev = (name: string, major: Field, minor: Field, m: Meta = {}): Buffer =>
  entry({ mode: 0o600, ...m, name, typeflag: '3', devmajor: major, devminor: minor });
export const blockdev = (name: string, major: Field, minor: Field, m: Meta = {}): Buffer =>
  entry({ mode: 0o600, ...m, name, typeflag: '4', devmajor: major, devminor: minor });
export const fifo = (name: string, m: Meta = {}): Buffer => entry({ mode: 0o644, ...m, name, typeflag: '6' });

/** One PAX record, `"<len> key=value\n"`, with the length computed (or forced). */
export function paxRecord(key: string, value: string | Buffer, forceLen?: number): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), asBuf(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (len !== body.length + String(len).length) len = body.length + String(len).length;
  return Buffer.concat([Buffer.from(String(forceLen ?? len), 'latin1'), body]);
}

/** A PAX extended header ('x', or 'g' for global) carrying `records` (pairs, or raw bytes). */
export function pax(records: [string, string | Buffer][] | Buffer, opts: { global?: boolean; name?: string; size?: Field } = {}): Buffer {
  const data = Buffer.isBuffer(records) ? records : Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return entry({ name: opts.name ?? 'PaxHeaders/x', typeflag: opts.global ? 'g' : 'x', size: opts.size ?? data.length }, data);
}

/** A GNU long name ('L') or long link ('K') header. */
export function gnuLong(kind: 'L' | 'K', value: string | Buffer): Buffer {
  const v = Buffer.concat([asBuf(value), Buffer.alloc(1)]);
  return entry({ name: '././@LongLink', typeflag: kind, magic: 'gnu' }, v);
}

/** The end-of-archive marker: two zero blocks. */
export const END = Buffer.alloc(2 * BLOCK);

/** A whole archive: the parts, then the end marker. */
export function tar(...parts: Buffer[]): Buffer {
  return Buffer.concat([...parts, END]);
}

export function gzip(b: Buffer): Buffer {
  return zlib.gzipSync(b, { level: 9 });
}

export function zstd(b: Buffer): Buffer {
  return zstdCompress(b);
}

/**
 * A zstd frame that declares a 2 GiB window (Window_Descriptor exponent 21):
 * a decoder that honours it would allocate 2 GiB before reading a byte.
 */
export function zstdWindowBomb(payload: Buffer): Buffer {
  const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
  const fhd = Buffer.from([0x00]); // no content size, not single-segment, no checksum, no dict
  const window = Buffer.from([21 << 3]); // windowLog = 10 + 21 = 31
  const n = payload.length;
  const blockHeader = Buffer.from([((n << 3) | 1) & 0xff, (n >> 5) & 0xff, (n >> 13) & 0xff]); // last, raw
  return Buffer.concat([magic, fhd, window, blockHeader, payload]);
}

// ---- an independent reader, for looking at our outputs ----------------------

export interface ReadEntry {
  /** Byte string (latin1), as stored after PAX/GNU overrides, not normalised. */
  name: string;
  typeflag: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.* records. */
  xattrs: Map<string, Buffer>;
  data: Buffer;
}

function octal(b: Buffer, off: number, len: number): number {
  if (b[off]! & 0x80) {
    let v = BigInt(b[off]! & 0x7f);
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(b[i]!);
    return Number(v);
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

function cstr(b: Buffer, off: number, len: number): string {
  const z = b.indexOf(0, off);
  return b.toString('latin1', off, z < 0 || z > off + len ? off + len : z);
}

/** Read a plain tar (the outputs of `convert`, which are never compressed). Throws on anything odd. */
export function readTarSimple(t: Buffer): ReadEntry[] {
  const out: ReadEntry[] = [];
  let pos = 0;
  let paxRecs = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;
  while (pos + BLOCK <= t.length) {
    const h = t.subarray(pos, pos + BLOCK);
    if (h.every((c) => c === 0)) break;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    if (octal(h, 148, 8) !== sum) throw new Error(`independent reader: bad checksum at ${pos}`);
    const flag = String.fromCharCode(h[156]!);
    const size = octal(h, 124, 12);
    const data = t.subarray(pos + BLOCK, pos + BLOCK + size);
    const realSize = paxRecs.has('size') ? Number(paxRecs.get('size')!.toString()) : size;
    pos += BLOCK;
    if (flag === 'x' || flag === 'g') {
      let p = 0;
      const recs = new Map<string, Buffer>();
      while (p < data.length && data[p] !== 0) {
        const sp = data.indexOf(0x20, p);
        const len = Number(data.toString('latin1', p, sp));
        const eq = data.indexOf(0x3d, sp);
        recs.set(data.toString('utf8', sp + 1, eq), Buffer.from(data.subarray(eq + 1, p + len - 1)));
        p += len;
      }
      if (flag === 'x') paxRecs = recs;
      pos += size + ((BLOCK - (size % BLOCK)) % BLOCK);
      continue;
    }
    if (flag === 'L' || flag === 'K') {
      const v = cstr(data, 0, data.length);
      if (flag === 'L') longName = v;
      else longLink = v;
      pos += size + ((BLOCK - (size % BLOCK)) % BLOCK);
      continue;
    }
    const ustar = h.toString('latin1', 257, 263) === 'ustar\0';
    const prefix = ustar ? cstr(h, 345, 155) : '';
    let name = cstr(h, 0, 100);
    if (prefix) name = `${prefix}/${name}`;
    if (longName !== undefined) name = longName;
    if (paxRecs.has('path')) name = paxRecs.get('path')!.toString('latin1');
    let linkname = longLink ?? cstr(h, 157, 100);
    if (paxRecs.has('linkpath')) linkname = paxRecs.get('linkpath')!.toString('latin1');
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of paxRecs) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice(13), v);
    const carries = flag === '0' || flag === '\0' || flag === '7';
    const body = carries ? t.subarray(pos, pos + realSize) : Buffer.alloc(0);
    if (carries && body.length !== realSize) throw new Error(`independent reader: truncated data for ${name}`);
    out.push({
      name,
      typeflag: flag,
      size: carries ? realSize : 0,
      mode: octal(h, 100, 8),
      uid: paxRecs.has('uid') ? Number(paxRecs.get('uid')!.toString()) : octal(h, 108, 8),
      gid: paxRecs.has('gid') ? Number(paxRecs.get('gid')!.toString()) : octal(h, 116, 8),
      mtime: paxRecs.has('mtime') ? Number(paxRecs.get('mtime')!.toString()) : octal(h, 136, 12),
      linkname,
      devmajor: paxRecs.has('SCHILY.devmajor') ? Number(paxRecs.get('SCHILY.devmajor')!.toString()) : octal(h, 329, 8),
      devminor: paxRecs.has('SCHILY.devminor') ? Number(paxRecs.get('SCHILY.devminor')!.toString()) : octal(h, 337, 8),
      xattrs,
      data: Buffer.from(body),
    });
    const stored = carries ? realSize : 0;
    pos += stored + ((BLOCK - (stored % BLOCK)) % BLOCK);
    paxRecs = new Map();
    longName = undefined;
    longLink = undefined;
  }
  return out;
}

/** Normalise a tar name the way SPEC §2 says, for comparisons (no `..` handling: outputs must not have any). */
export function canon(name: string): string {
  return name
    .split('/')
    .filter((c) => c !== '' && c !== '.')
    .join('/');
}

/** Offsets of every header block in a well-formed tar (extension headers included), and their typeflags. */
export function headerBlocks(t: Buffer): { offset: number; typeflag: string }[] {
  const out: { offset: number; typeflag: string }[] = [];
  let pos = 0;
  while (pos + BLOCK <= t.length) {
    const h = t.subarray(pos, pos + BLOCK);
    if (h.every((c) => c === 0)) break;
    const flag = String.fromCharCode(h[156]!);
    out.push({ offset: pos, typeflag: flag });
    const size = octal(h, 124, 12);
    const carries = flag === '0' || flag === '\0' || flag === '7' || flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K';
    pos += BLOCK + (carries ? size + ((BLOCK - (size % BLOCK)) % BLOCK) : 0);
  }
  return out;
}

/** Recompute a header block's checksum in place (after a deliberate edit). */
export function fixChecksum(b: Buffer, off: number): void {
  b.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = off; i < off + BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, off + 148, 8, 'latin1');
}
