/**
 * The 512-byte header block: parse ustar, GNU and v7 blocks; encode one
 * entry's header blocks (a PAX header when the ustar fields cannot hold it,
 * then the ustar block).
 */
import { WhiteoutError } from '../errors.js';
import { display, isValidUtf8 } from '../paths.js';
import { encodePax, isReservedPaxKey } from './pax.js';
import type { TarHeader, TarType } from './types.js';

export const BLOCK = 512;
export const ZERO_BLOCK = Buffer.alloc(BLOCK);

/** Largest value of an octal field with `digits` digits. */
const maxOctal = (digits: number): number => 8 ** digits - 1;
const MAX7 = maxOctal(7);
const MAX11 = maxOctal(11);

export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

/** One header block as stored, before PAX and GNU extensions are applied. */
export interface RawHeader {
  format: HeaderFormat;
  /** The typeflag byte. */
  typeflag: number;
  /** Byte string; for ustar, prefix and name joined. */
  name: string;
  linkname: string;
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

export function isZeroBlock(b: Buffer): boolean {
  return b.length === BLOCK && b.equals(ZERO_BLOCK);
}

/** Bytes of padding after `size` bytes of data. */
export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * A numeric field: octal (leading spaces, then digits, then spaces/NULs) or
 * base-256 (high bit of the first byte set, two's complement). Negative values
 * only where `signed` (mtime); nothing beyond Number.MAX_SAFE_INTEGER.
 */
export function parseNumeric(b: Buffer, off: number, len: number, field: string, where: string, at: number, signed = false): number {
  const first = b[off]!;
  if (first & 0x80) {
    // Rare: BigInt keeps the arithmetic exact for fields up to 12 bytes.
    let v = BigInt(first & 0x7f);
    for (let i = off + 1; i < off + len; i++) v = (v << 8n) | BigInt(b[i]!);
    if (first & 0x40) v -= 1n << BigInt(len * 8 - 1);
    if (v < 0n && !signed) badNumeric(`negative ${field}`, where, at);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) badNumeric(`${field} too large`, where, at);
    return Number(v);
  }
  const end = off + len;
  let i = off;
  while (i < end && b[i] === 0x20) i++;
  let v = 0;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
  }
  for (; i < end; i++) if (b[i] !== 0x20 && b[i] !== 0) badNumeric(`bad ${field} field`, where, at);
  return v;
}

// Out of line, so the parsers above allocate nothing per call (they run ~7 times a header).
function badNumeric(why: string, where: string, at: number): never {
  throw new WhiteoutError(where, `${why} in header at offset ${at}`, 'input');
}

/** A NUL-terminated (or full-width) string field, as a byte string. */
function field(b: Buffer, off: number, len: number): string {
  // Most link names, prefixes and v7 owner names are empty: no call into the string decoder.
  if (b[off] === 0) return '';
  const end = off + len;
  let z = off + 1;
  while (z < end && b[z] !== 0) z++;
  return b.toString('latin1', off, z);
}

/**
 * The stored checksum must be the sum of the block with the checksum field read
 * as spaces: unsigned, or (old tars) with signed chars. The signed sum is only
 * worked out when the unsigned one does not match.
 */
function checksumMatches(b: Buffer, stored: number): boolean {
  let u = 8 * 0x20;
  for (let i = 0; i < 148; i++) u += b[i]!;
  for (let i = 156; i < BLOCK; i++) u += b[i]!;
  if (u === stored) return true;
  let s = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) {
    if (i === 148) i = 156;
    const c = b[i]!;
    s += c > 127 ? c - 256 : c;
  }
  return s === stored;
}

const USTAR = [0x75, 0x73, 0x74, 0x61, 0x72]; // "ustar"

function formatOf(b: Buffer): HeaderFormat {
  // "ustar\0" + any version is POSIX; "ustar  \0" is GNU; anything else v7 (as Go decides).
  for (let i = 0; i < 5; i++) if (b[257 + i] !== USTAR[i]) return 'v7';
  if (b[262] === 0) return 'ustar';
  if (b[262] === 0x20 && b[263] === 0x20 && b[264] === 0) return 'gnu';
  return 'v7';
}

/** Parse one (non-zero) header block found at stream offset `at`. */
export function parseHeader(b: Buffer, where: string, at: number): RawHeader {
  let stored = -1;
  try {
    stored = parseNumeric(b, 148, 8, 'checksum', where, at);
  } catch {
    // An unparseable checksum field is a checksum mismatch.
  }
  if (!checksumMatches(b, stored)) {
    throw new WhiteoutError(where, `bad header checksum at offset ${at}`, 'input');
  }
  const format = formatOf(b);
  const typeflag = b[156]!;
  let name = field(b, 0, 100);
  if (format === 'ustar') {
    // star puts atime/ctime after a shorter prefix and marks it with "tar\0" at 508.
    const star = b[508] === 0x74 && b[509] === 0x61 && b[510] === 0x72 && b[511] === 0;
    const prefix = field(b, 345, star ? 131 : 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const modern = format !== 'v7';
  // Device numbers mean something only for devices; other entries may hold junk there.
  const device = modern && (typeflag === 0x33 || typeflag === 0x34);
  return {
    format,
    typeflag,
    name,
    linkname: field(b, 157, 100),
    size: parseNumeric(b, 124, 12, 'size', where, at),
    mode: parseNumeric(b, 100, 8, 'mode', where, at),
    uid: parseNumeric(b, 108, 8, 'uid', where, at),
    gid: parseNumeric(b, 116, 8, 'gid', where, at),
    mtime: parseNumeric(b, 136, 12, 'mtime', where, at, true),
    uname: modern ? field(b, 265, 32) : '',
    gname: modern ? field(b, 297, 32) : '',
    devmajor: device ? parseNumeric(b, 329, 8, 'devmajor', where, at) : 0,
    devminor: device ? parseNumeric(b, 337, 8, 'devminor', where, at) : 0,
  };
}

const TYPEFLAG: Record<TarType, number> = {
  file: 0x30,
  hardlink: 0x31,
  symlink: 0x32,
  char: 0x33,
  block: 0x34,
  dir: 0x35,
  fifo: 0x36,
};

/** Bytes of data that follow the header: only regular files carry data. */
export function dataSize(h: TarHeader): number {
  return h.type === 'file' ? h.size : 0;
}

// eslint-disable-next-line no-control-regex
const isAscii = (s: string): boolean => /^[\x01-\x7f]*$/.test(s);
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Split a name into ustar prefix and name at a '/', or null if it cannot be. */
function splitName(name: string): { prefix: string; name: string } | null {
  if (name.length <= 100) return { prefix: '', name };
  // The longest prefix leaves the shortest name; the name part may not be empty.
  const i = name.lastIndexOf('/', Math.min(155, name.length - 2));
  if (i < 1 || name.length - i - 1 > 100) return null;
  return { prefix: name.slice(0, i), name: name.slice(i + 1) };
}

/** PAX `mtime`: up to 9 fraction digits, no trailing zeros. */
function paxTime(t: number): string {
  const a = Math.abs(t);
  let sec = Math.floor(a);
  let ns = Math.round((a - sec) * 1e9);
  if (ns >= 1e9) {
    sec += 1;
    ns -= 1e9;
  }
  const frac = ns === 0 ? '' : `.${String(ns).padStart(9, '0').replace(/0+$/, '')}`;
  return `${t < 0 && (sec !== 0 || ns !== 0) ? '-' : ''}${sec}${frac}`;
}

function checkHeader(h: TarHeader): void {
  const bad = (why: string): never => {
    throw new WhiteoutError(display(h.name) || 'tar entry', why, 'input');
  };
  const strings: [string, string][] = [
    ['name', h.name],
    ['link target', h.linkname],
    ['uname', h.uname],
    ['gname', h.gname],
  ];
  for (const [k, s] of strings) {
    // One test on the hot path; the slow path says which rule broke.
    if (/[^\x01-\xff]/.test(s)) bad(s.includes('\0') ? `NUL byte in ${k}` : `${k} is not a byte string`);
  }
  const numbers: [string, number][] = [
    ['size', h.size],
    ['uid', h.uid],
    ['gid', h.gid],
    ['devmajor', h.devmajor],
    ['devminor', h.devminor],
  ];
  for (const [k, n] of numbers) if (!Number.isSafeInteger(n) || n < 0) bad(`bad ${k} ${n}`);
  if (!Number.isFinite(h.mtime) || Math.abs(h.mtime) > Number.MAX_SAFE_INTEGER) bad(`bad mtime ${h.mtime}`);
  for (const x of h.xattrs.keys()) {
    if (x === '' || x.includes('=') || x.includes('\0')) bad(`xattr name '${x}' cannot be stored in a PAX record`);
  }
  for (const k of h.pax.keys()) {
    if (isReservedPaxKey(k)) bad(`PAX record '${k}' is set by the tar writer itself`);
  }
}

function writeOctal(b: Buffer, off: number, len: number, v: number): void {
  b.write(v.toString(8).padStart(len - 1, '0'), off, len - 1, 'latin1');
  b[off + len - 1] = 0;
}

/** Fill one ustar block at `off` in `b` (which is zeroed) and set its checksum. */
function writeBlock(b: Buffer, off: number, f: { name: string; prefix: string; mode: number; uid: number; gid: number; size: number; mtime: number; typeflag: number; linkname: string; uname: string; gname: string; devmajor: number; devminor: number }): void {
  b.write(f.name, off, 100, 'latin1');
  writeOctal(b, off + 100, 8, f.mode);
  writeOctal(b, off + 108, 8, f.uid);
  writeOctal(b, off + 116, 8, f.gid);
  writeOctal(b, off + 124, 12, f.size);
  writeOctal(b, off + 136, 12, f.mtime);
  b[off + 156] = f.typeflag;
  b.write(f.linkname, off + 157, 100, 'latin1');
  b.write('ustar\u000000', off + 257, 8, 'latin1');
  b.write(f.uname, off + 265, 32, 'latin1');
  b.write(f.gname, off + 297, 32, 'latin1');
  writeOctal(b, off + 329, 8, f.devmajor);
  writeOctal(b, off + 337, 8, f.devminor);
  b.write(f.prefix, off + 345, 155, 'latin1');
  b.fill(0x20, off + 148, off + 156);
  let sum = 0;
  for (let i = off; i < off + BLOCK; i++) sum += b[i]!;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, off + 148, 8, 'latin1');
}

/**
 * The header blocks of one entry: a PAX 'x' header (with its data, padded)
 * when some field does not fit ustar, then the ustar block. Deterministic:
 * the same header always gives the same bytes.
 */
export function encodeHeader(h: TarHeader): Buffer {
  const plan = planHeader(h);
  const out = Buffer.alloc(plan.length);
  plan.writeInto(out, 0);
  return out;
}

/** An entry's header blocks, checked and sized, to be written where the caller has room (a tar writer's batch). */
export interface HeaderPlan {
  /** Bytes of the header blocks: 512, or more with a PAX header. */
  length: number;
  /** Write them at `off` of `b`, whose `length` bytes from there must be zero. */
  writeInto(b: Buffer, off: number): void;
}

/** encodeHeader without the buffer: the tar writer encodes straight into its batch (no allocation per entry). */
export function planHeader(h: TarHeader): HeaderPlan {
  checkHeader(h);
  const name = h.type === 'dir' && h.name !== '' && !h.name.endsWith('/') ? `${h.name}/` : h.name;
  const size = dataSize(h);
  const records: [string, Buffer][] = [];

  // Non-ASCII names go to PAX too (as Go does): ustar fields are ASCII by the
  // standard, and the PAX record says how to read the bytes.
  const split = isAscii(name) ? splitName(name) : null;
  if (!split) records.push(['path', bytes(name)]);
  const linkFits = h.linkname.length <= 100 && isAscii(h.linkname);
  if (!linkFits) records.push(['linkpath', bytes(h.linkname)]);
  if (size > MAX11) records.push(['size', bytes(String(size))]);
  if (h.uid > MAX7) records.push(['uid', bytes(String(h.uid))]);
  if (h.gid > MAX7) records.push(['gid', bytes(String(h.gid))]);
  const mtimeFits = Number.isInteger(h.mtime) && h.mtime >= 0 && h.mtime <= MAX11;
  if (!mtimeFits) records.push(['mtime', bytes(paxTime(h.mtime))]);
  const unameFits = h.uname.length <= 32 && isAscii(h.uname);
  if (!unameFits) records.push(['uname', bytes(h.uname)]);
  const gnameFits = h.gname.length <= 32 && isAscii(h.gname);
  if (!gnameFits) records.push(['gname', bytes(h.gname)]);
  // POSIX has no device-number keys; these are star's and libarchive's.
  if (h.devmajor > MAX7) records.push(['SCHILY.devmajor', bytes(String(h.devmajor))]);
  if (h.devminor > MAX7) records.push(['SCHILY.devminor', bytes(String(h.devminor))]);
  if (h.xattrs.size > 0) for (const k of [...h.xattrs.keys()].sort()) records.push([`SCHILY.xattr.${k}`, h.xattrs.get(k)!]);
  if (h.pax.size > 0) for (const k of [...h.pax.keys()].sort()) records.push([k, h.pax.get(k)!]);
  // Only names that went to PAX records can need the charset note.
  const binary = (inPax: boolean, s: string): boolean => inPax && !isValidUtf8(s);
  if (binary(!split, name) || binary(!linkFits, h.linkname) || binary(!unameFits, h.uname) || binary(!gnameFits, h.gname)) {
    records.unshift(['hdrcharset', bytes('BINARY')]);
  }

  const data = records.length > 0 ? encodePax(records) : null;
  const paxLen = data ? BLOCK + data.length + padding(data.length) : 0;
  return { length: paxLen + BLOCK, writeInto: (out, at) => writeBlocks(out, at, h, name, size, split, mtimeFits, data, paxLen) };
}

function writeBlocks(
  out: Buffer,
  at: number,
  h: TarHeader,
  name: string,
  size: number,
  split: { name: string; prefix: string } | null,
  mtimeFits: boolean,
  data: Buffer | null,
  paxLen: number,
): void {
  if (data) {
    const base = name.replace(/\/+$/, '').split('/').pop() ?? '';
    writeBlock(out, at, {
      name: `PaxHeaders/${base}`,
      prefix: '',
      mode: 0o644,
      uid: 0,
      gid: 0,
      size: data.length,
      mtime: 0,
      typeflag: 0x78, // 'x'
      linkname: '',
      uname: '',
      gname: '',
      devmajor: 0,
      devminor: 0,
    });
    data.copy(out, at + BLOCK);
  }
  writeBlock(out, at + paxLen, {
    name: split ? split.name : name,
    prefix: split ? split.prefix : '',
    mode: h.mode & 0o7777,
    uid: h.uid > MAX7 ? 0 : h.uid,
    gid: h.gid > MAX7 ? 0 : h.gid,
    size: size > MAX11 ? 0 : size,
    mtime: mtimeFits ? h.mtime : Math.min(Math.max(Math.floor(h.mtime), 0), MAX11),
    typeflag: TYPEFLAG[h.type],
    linkname: h.linkname,
    uname: h.uname,
    gname: h.gname,
    devmajor: h.devmajor > MAX7 ? 0 : h.devmajor,
    devminor: h.devminor > MAX7 ? 0 : h.devminor,
  });
}
