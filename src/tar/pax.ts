/**
 * PAX extended header records, binary-safe: values stay bytes (an xattr such as
 * `security.capability` is binary), and names in `path`/`linkpath`/`uname`/`gname`
 * stay byte strings, so nothing is lost to a UTF-8 round trip.
 */
import { WhiteoutError } from '../errors.js';
import type { TarHeader } from './types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });
const NL = Buffer.from('\n');

/**
 * Parse the data of a PAX header: records `"<len> <key>=<value>\n"`, `len`
 * counting the whole record in bytes. `offset` is where `buf` starts in the
 * stream, so errors can say where. Later records win over earlier ones.
 */
export function parsePax(buf: Buffer, where: string, offset: number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const bad = (why: string, at: number): never => {
    throw new WhiteoutError(where, `${why} at offset ${offset + at}`, 'input');
  };
  let pos = 0;
  while (pos < buf.length) {
    // Some writers pad the data with NULs; nothing else may follow the records.
    if (buf[pos] === 0) {
      for (let i = pos; i < buf.length; i++) if (buf[i] !== 0) bad('garbage after PAX records', i);
      break;
    }
    let len = 0;
    let i = pos;
    for (; i < buf.length && i - pos < 16; i++) {
      const c = buf[i]!;
      if (c === 0x20) break;
      if (c < 0x30 || c > 0x39) bad('bad PAX record length', pos);
      len = len * 10 + (c - 0x30);
    }
    if (i === pos || buf[i] !== 0x20) bad('bad PAX record length', pos);
    const end = pos + len;
    if (len <= i - pos + 1 || end > buf.length) bad('PAX record length out of bounds', pos);
    if (buf[end - 1] !== 0x0a) bad('PAX record not terminated by a newline', pos);
    const eq = buf.indexOf(0x3d, i + 1);
    if (eq < 0 || eq >= end - 1) bad("PAX record without '='", pos);
    if (eq === i + 1) bad('empty PAX record key', pos);
    const keyBytes = buf.subarray(i + 1, eq);
    if (keyBytes.includes(0)) bad('NUL byte in PAX record key', pos);
    let key = '';
    try {
      key = utf8.decode(keyBytes);
    } catch {
      bad('PAX record key is not valid UTF-8', pos);
    }
    // Copy: the caller's buffer may be a view of a stream chunk.
    out.set(key, Buffer.from(buf.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}

/** Encode PAX records in the order given. */
export function encodePax(records: Iterable<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [key, value] of records) {
    if (key === '' || key.includes('=') || key.includes('\0')) {
      throw new WhiteoutError(`PAX record '${key}'`, "a PAX key cannot be empty or hold '=' or NUL", 'input');
    }
    const head = Buffer.from(` ${key}=`, 'utf8');
    const rest = head.length + value.length + 1;
    // The length counts its own digits; adding them can add a digit (e.g. 98 → 101).
    let len = rest + 1;
    while (len !== rest + String(len).length) len = rest + String(len).length;
    parts.push(Buffer.from(String(len), 'latin1'), head, value, NL);
  }
  return Buffer.concat(parts);
}

/** Record keys the codec itself interprets; a caller's `pax` map may not set them. */
export function isReservedPaxKey(key: string): boolean {
  return (
    STANDARD_KEYS.has(key) ||
    key.startsWith('SCHILY.xattr.') ||
    key.startsWith('LIBARCHIVE.xattr.') ||
    key.startsWith('GNU.sparse.') ||
    key === 'SCHILY.devmajor' ||
    key === 'SCHILY.devminor'
  );
}

const STANDARD_KEYS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'mtime', 'uname', 'gname', 'hdrcharset', 'atime', 'ctime']);

/**
 * Fold the records of a local PAX header into `h`. GNU.sparse.* records are
 * left for the sparse code; `atime`, `ctime` and `hdrcharset` are dropped
 * (names are bytes whatever the charset says); unknown records go to `h.pax`.
 */
export function applyPax(h: TarHeader, records: Map<string, Buffer>, where: string, at: number): void {
  const bad = (why: string): never => {
    throw new WhiteoutError(where, `${why} in PAX header at offset ${at}`, 'input');
  };
  const int = (key: string, v: Buffer): number => {
    const s = v.toString('latin1');
    if (!/^\d{1,16}$/.test(s) || Number(s) > Number.MAX_SAFE_INTEGER) bad(`bad ${key} record '${s}'`);
    return Number(s);
  };
  const name = (key: string, v: Buffer): string => {
    if (v.includes(0)) bad(`NUL byte in ${key} record`);
    return v.toString('latin1');
  };
  const libarchive: [string, Buffer][] = [];
  for (const [key, v] of records) {
    // An empty value deletes the record (POSIX), so the ustar field stands;
    // xattrs are the exception: an empty xattr value is a real value.
    if (v.length === 0 && STANDARD_KEYS.has(key)) continue;
    switch (key) {
      case 'path':
        h.name = name(key, v);
        break;
      case 'linkpath':
        h.linkname = name(key, v);
        break;
      case 'size':
        h.size = int(key, v);
        break;
      case 'uid':
        h.uid = int(key, v);
        break;
      case 'gid':
        h.gid = int(key, v);
        break;
      case 'mtime': {
        const s = v.toString('latin1');
        if (!/^-?\d{1,16}(\.\d{1,18})?$/.test(s)) bad(`bad mtime record '${s}'`);
        h.mtime = Number(s);
        break;
      }
      case 'uname':
        h.uname = v.toString('latin1');
        break;
      case 'gname':
        h.gname = v.toString('latin1');
        break;
      case 'SCHILY.devmajor':
        h.devmajor = int(key, v);
        break;
      case 'SCHILY.devminor':
        h.devminor = int(key, v);
        break;
      case 'atime':
      case 'ctime':
      case 'hdrcharset':
        break;
      default:
        if (key.startsWith('SCHILY.xattr.')) h.xattrs.set(key.slice(13), v);
        else if (key.startsWith('LIBARCHIVE.xattr.')) libarchive.push([key.slice(17), v]);
        else if (!key.startsWith('GNU.sparse.')) h.pax.set(key, v);
    }
  }
  // libarchive writes each xattr twice; the SCHILY form is the one Go readers
  // (containerd, moby) apply, so it wins when both are present.
  for (const [encName, b64] of libarchive) {
    let xname = '';
    try {
      xname = decodeURIComponent(encName);
    } catch {
      bad(`bad LIBARCHIVE.xattr name '${encName}'`);
    }
    const text = b64.toString('latin1');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) bad(`bad base64 in LIBARCHIVE.xattr.${encName}`);
    if (!h.xattrs.has(xname)) h.xattrs.set(xname, Buffer.from(text, 'base64'));
  }
}
