/**
 * An independent reading of a tar, through tar-stream rather than our codec:
 * a sorted, canonical listing that two layers can be compared by.
 */
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tarStream from 'tar-stream';

export interface Listed {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  sha256: string;
  linkname: string;
  devmajor: number;
  devminor: number;
  xattrs: Record<string, string>;
}

function canonicalName(n: string): string {
  return n.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

export async function listTar(bytes: Buffer): Promise<Listed[]> {
  const raw = bytes[0] === 0x1f && bytes[1] === 0x8b ? zlib.gunzipSync(bytes) : bytes;
  const extract = tarStream.extract();
  const out: Listed[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const h = entry.header;
      const hash = crypto.createHash('sha256');
      for await (const chunk of entry) hash.update(chunk as Buffer);
      const xattrs: Record<string, string> = {};
      for (const [k, v] of Object.entries(h.pax ?? {})) {
        if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice('SCHILY.xattr.'.length)] = v;
      }
      out.push({
        name: canonicalName(h.name),
        type: h.type ?? 'file',
        mode: (h.mode ?? 0) & 0o7777,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        mtime: h.mtime ? Math.floor(h.mtime.getTime() / 1000) : 0,
        size: h.size ?? 0,
        sha256: hash.digest('hex'),
        linkname: h.linkname ? canonicalName(h.linkname) : '',
        devmajor: h.devmajor ?? 0,
        devminor: h.devminor ?? 0,
        xattrs,
      });
    }
  })();
  Readable.from([raw]).pipe(extract);
  await done;
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Whiteout markers compared by name only: their metadata carries nothing (SPEC §Whiteout headers). */
export function semantic(list: Listed[], opts: { dropRoot?: boolean } = {}): string[] {
  const byName = new Map(list.map((l) => [l.name, l]));
  return list
    .filter((l) => !(opts.dropRoot && l.name === ''))
    .map((l) => {
      const base = l.name.split('/').pop() ?? '';
      if (base.startsWith('.wh.')) return `${l.name} marker`;
      // A hard link is compared by what it points at, so either name of a pair may be the "file".
      const target = l.type === 'link' ? byName.get(l.linkname) : undefined;
      const c = target ?? l;
      const body = c.type === 'file' ? `sha=${c.sha256.slice(0, 16)} size=${c.size}` : c.type === 'symlink' ? `-> ${c.linkname}` : '';
      const type = c.type === 'link' ? 'file' : c.type;
      const x = Object.keys(c.xattrs).length ? ` xattrs=${JSON.stringify(c.xattrs)}` : '';
      return `${l.name} ${type} ${c.mode.toString(8)} ${c.uid}:${c.gid} t=${c.mtime} ${body}${x}`;
    });
}
