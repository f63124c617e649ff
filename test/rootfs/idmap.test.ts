import { describe, expect, it } from 'vitest';
import { mapOwners, parseIdRanges } from '../../src/rootfs/idmap.js';
import { collect, file, stream } from '../helpers/entries.js';

const idMap = { uids: parseIdRanges(['0:100000:65536'], '--uid-map'), gids: parseIdRanges(['0:200000:65536'], '--gid-map') };

/** A vfs_cap_data value: revision in the magic's top byte, cap_net_bind_service (bit 10) permitted. */
function capability(revision: 2 | 3, rootid = 0): Buffer {
  const b = Buffer.alloc(revision === 3 ? 24 : 20);
  b.writeUInt32LE((revision << 24) | 1, 0);
  b.writeUInt32LE(1 << 10, 4);
  if (revision === 3) b.writeUInt32LE(rootid, 20);
  return b;
}

/** A version-2 POSIX ACL: user::rw-, user:1000:r--, group::r--, group:50:rw-, mask::rw-, other::---. */
function acl(): Buffer {
  const entries: [number, number, number][] = [
    [0x01, 6, 0xffffffff],
    [0x02, 4, 1000],
    [0x04, 4, 0xffffffff],
    [0x08, 6, 50],
    [0x10, 6, 0xffffffff],
    [0x20, 0, 0xffffffff],
  ];
  const b = Buffer.alloc(4 + entries.length * 8);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(id, 8 + i * 8);
  });
  return b;
}

async function shifted(xattrs: Map<string, Buffer>) {
  const [e] = await collect(mapOwners(stream([file('f', 'x', { xattrs })]), idMap));
  if (!e || e.kind !== 'file') throw new Error('no entry');
  return e.meta.xattrs;
}

describe('id maps reach the ids inside xattr values', () => {
  it('a v3 capability gets its rootid shifted; the rest of the value is kept', async () => {
    const x = await shifted(new Map([['security.capability', capability(3, 0)]]));
    const v = x.get('security.capability');
    expect(v?.readUInt32LE(20)).toBe(100000);
    expect(v?.subarray(0, 20)).toEqual(capability(3, 0).subarray(0, 20));
  });

  it('a v2 capability (no rootid) is left as it is', async () => {
    const x = await shifted(new Map([['security.capability', capability(2)]]));
    expect(x.get('security.capability')).toEqual(capability(2));
  });

  it('named users and groups of an ACL are shifted, the owner/other/mask entries are not', async () => {
    const x = await shifted(new Map([['system.posix_acl_access', acl()], ['system.posix_acl_default', acl()]]));
    for (const name of ['system.posix_acl_access', 'system.posix_acl_default']) {
      const v = x.get(name);
      if (!v) throw new Error(`${name} missing`);
      const ids = Array.from({ length: 6 }, (_, i) => v.readUInt32LE(8 + i * 8));
      expect(ids).toEqual([0xffffffff, 101000, 0xffffffff, 200050, 0xffffffff, 0xffffffff]);
    }
  });

  it('an id in a value that no range covers, or a value that cannot be parsed, is an error', async () => {
    const narrow = { uids: parseIdRanges(['0:100000:10'], '--uid-map'), gids: [] };
    const run = (xattrs: Map<string, Buffer>, m = idMap) => collect(mapOwners(stream([file('f', 'x', { xattrs })]), m));
    await expect(run(new Map([['system.posix_acl_access', acl()]]), narrow)).rejects.toThrow(/ACL uid 1000 of 'f': is not covered/);
    await expect(run(new Map([['system.posix_acl_access', Buffer.from('garbage')]]))).rejects.toThrow(/is not a version-2 POSIX ACL/);
    await expect(run(new Map([['security.capability', capability(3).subarray(0, 22)]]))).rejects.toThrow(/v3 capability is 24 bytes/);
  });

  it('without a map nothing changes, not even the Map object', async () => {
    const xattrs = new Map([['security.capability', capability(3, 7)]]);
    const [e] = await collect(mapOwners(stream([file('f', 'x', { xattrs })]), undefined));
    expect(e?.kind === 'file' && e.meta.xattrs).toBe(xattrs);
  });
});
