/**
 * `--uid-map`/`--gid-map container:host:count`, as in a user namespace's
 * uid_map: ownership is shifted while writing, so a rootfs or layer can be
 * used by a container running in that namespace. An id no range covers is an
 * error rather than a silent overflow id: it would be a file nobody owns.
 */
import type { Entry } from '../entry.js';
import { WhiteoutError } from '../errors.js';
import { display } from '../paths.js';

export interface IdRange {
  container: number;
  host: number;
  count: number;
}

export interface IdMapping {
  uids: IdRange[];
  gids: IdRange[];
}

const MAX_ID = 2 ** 32 - 1;

export function parseIdRange(text: string, flag: string): IdRange {
  const m = /^(\d+):(\d+):(\d+)$/.exec(text);
  const nums = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [];
  const [container, host, count] = nums as [number, number, number];
  if (!m || count < 1 || container + count - 1 > MAX_ID || host + count - 1 > MAX_ID) {
    throw new WhiteoutError(flag, `'${text}' is not container:host:count (e.g. 0:100000:65536)`, 'usage');
  }
  return { container, host, count };
}

export function parseIdRanges(texts: readonly string[], flag: string): IdRange[] {
  const ranges = texts.map((t) => parseIdRange(t, flag)).sort((a, b) => a.container - b.container);
  for (let i = 1; i < ranges.length; i++) {
    const a = ranges[i - 1] as IdRange;
    const b = ranges[i] as IdRange;
    if (a.container + a.count > b.container) throw new WhiteoutError(flag, `ranges ${a.container}:${a.host}:${a.count} and ${b.container}:${b.host}:${b.count} overlap`, 'usage');
  }
  return ranges;
}

function mapId(ranges: readonly IdRange[], id: number, what: () => string): number {
  if (ranges.length === 0) return id;
  for (const r of ranges) if (id >= r.container && id < r.container + r.count) return r.host + (id - r.container);
  throw new WhiteoutError(what(), 'is not covered by the id map', 'input');
}

export function isIdentity(m: IdMapping | undefined): boolean {
  return !m || (m.uids.length === 0 && m.gids.length === 0);
}

const CAP_XATTR = 'security.capability';
const ACL_XATTRS = ['system.posix_acl_access', 'system.posix_acl_default'];
/** vfs_cap_data revision 3 (include/uapi/linux/capability.h): 4-byte magic, 2 × (permitted, inheritable), then rootid. */
const VFS_CAP_REVISION_MASK = 0xff000000;
const VFS_CAP_REVISION_3 = 0x03000000;
const VFS_CAP_V3_SIZE = 24;
/** posix_acl_xattr (include/uapi/linux/posix_acl_xattr.h): 4-byte version header, then 8-byte entries (tag u16, perm u16, id u32). */
const ACL_VERSION = 2;
const ACL_USER = 0x02;
const ACL_GROUP = 0x08;

/**
 * Ids also live inside two kinds of xattr values. A v3 file capability names the
 * uid of the namespace root that owns it; the kernel ignores the capability in
 * any namespace whose root is not that uid, so it must move with the map. (A v2
 * capability has no rootid and counts as owned by the initial namespace's root,
 * which every namespace honours: it stays as it is.) A POSIX ACL names users and
 * groups by number. A value that cannot be parsed is refused, not passed through
 * unshifted.
 */
function mapXattrs(xattrs: Map<string, Buffer>, m: IdMapping, where: (kind: string, id: number) => () => string, path: string): Map<string, Buffer> {
  let out: Map<string, Buffer> | undefined;
  const set = (k: string, v: Buffer) => {
    out ??= new Map(xattrs);
    out.set(k, v);
  };
  const cap = xattrs.get(CAP_XATTR);
  if (cap && cap.length >= 4 && ((cap.readUInt32LE(0) & VFS_CAP_REVISION_MASK) >>> 0) === VFS_CAP_REVISION_3) {
    if (cap.length !== VFS_CAP_V3_SIZE) throw new WhiteoutError(`xattr ${CAP_XATTR} of '${display(path)}'`, `a v3 capability is ${VFS_CAP_V3_SIZE} bytes, this one is ${cap.length}`, 'input');
    const v = Buffer.from(cap);
    const rootid = v.readUInt32LE(20);
    v.writeUInt32LE(mapId(m.uids, rootid, where('capability rootid', rootid)), 20);
    set(CAP_XATTR, v);
  }
  for (const name of ACL_XATTRS) {
    const acl = xattrs.get(name);
    if (!acl) continue;
    if (acl.length < 4 || (acl.length - 4) % 8 !== 0 || acl.readUInt32LE(0) !== ACL_VERSION) {
      throw new WhiteoutError(`xattr ${name} of '${display(path)}'`, 'is not a version-2 POSIX ACL, so the ids in it cannot be shifted', 'input');
    }
    const v = Buffer.from(acl);
    for (let o = 4; o < v.length; o += 8) {
      const tag = v.readUInt16LE(o);
      const id = v.readUInt32LE(o + 4);
      if (tag === ACL_USER) v.writeUInt32LE(mapId(m.uids, id, where('ACL uid', id)), o + 4);
      else if (tag === ACL_GROUP) v.writeUInt32LE(mapId(m.gids, id, where('ACL gid', id)), o + 4);
    }
    set(name, v);
  }
  return out ?? xattrs;
}

/**
 * Shift the owners of every content entry, and the ids inside capability and ACL
 * xattrs. Names (uname/gname) are dropped: they no longer fit the numbers. The
 * identity map gives `entries` back as they are: a generator hop per entry is not free.
 */
export function mapOwners<E extends Entry>(entries: AsyncIterable<E>, m: IdMapping | undefined): AsyncIterable<E> {
  return !m || isIdentity(m) ? entries : mapped(entries, m);
}

async function* mapped<E extends Entry>(entries: AsyncIterable<E>, m: IdMapping): AsyncGenerator<E> {
  for await (const e of entries) {
    if (e.kind === 'whiteout' || e.kind === 'opaque') {
      yield e;
      continue;
    }
    const where = (kind: string, id: number) => () => `${kind} ${id} of '${display(e.path)}'`;
    const { uname: _u, gname: _g, ...rest } = e.meta;
    const meta = {
      ...rest,
      uid: mapId(m.uids, e.meta.uid, where('uid', e.meta.uid)),
      gid: mapId(m.gids, e.meta.gid, where('gid', e.meta.gid)),
      xattrs: e.meta.xattrs.size === 0 ? e.meta.xattrs : mapXattrs(e.meta.xattrs, m, where, e.path),
    };
    yield { ...e, meta };
  }
}
