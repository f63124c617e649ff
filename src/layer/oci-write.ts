/**
 * Writer for the OCI/AUFS tar form: neutral entries in, tar bytes out.
 * Whiteouts and opaque markers get a canonical header — an empty regular file,
 * mode 0, owner 0:0, mtime 0 — as containerd writes them: nothing in a
 * marker's metadata has meaning, and fixed values keep layers reproducible
 * (SPEC.md §Whiteout headers).
 */
import type { ContentEntry, Entry } from '../entry.js';
import { ROOT, opaqueMarkerName, whiteoutName } from '../paths.js';
import type { TarHeader, TarType, TarWriteEntry } from '../tar/types.js';
import { type WriteTarOptions, writeTar } from '../tar/write.js';

export function markerHeader(name: string): TarHeader {
  return {
    name,
    type: 'file',
    size: 0,
    mode: 0,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: 0,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    pax: new Map(),
  };
}

/** The tar header for a content entry; `xattrs` lets a caller store them in another form. */
export function contentHeader(e: ContentEntry, xattrs: Map<string, Buffer> = e.meta.xattrs): TarHeader {
  const type: TarType = e.kind;
  const h: TarHeader = {
    name: e.path === ROOT ? './' : e.kind === 'dir' ? `${e.path}/` : e.path,
    type,
    size: e.kind === 'file' ? e.size : 0,
    mode: e.meta.mode,
    uid: e.meta.uid,
    gid: e.meta.gid,
    uname: e.meta.uname ?? '',
    gname: e.meta.gname ?? '',
    mtime: e.meta.mtime,
    linkname: e.kind === 'symlink' || e.kind === 'hardlink' ? e.target : '',
    devmajor: e.kind === 'char' || e.kind === 'block' ? e.major : 0,
    devminor: e.kind === 'char' || e.kind === 'block' ? e.minor : 0,
    xattrs,
    pax: e.meta.pax ?? new Map(),
  };
  return h;
}

export function ociTarEntry(e: Entry): TarWriteEntry {
  switch (e.kind) {
    case 'whiteout':
      return { header: markerHeader(whiteoutName(e.path)) };
    case 'opaque':
      return { header: markerHeader(opaqueMarkerName(e.path)) };
    case 'file':
      return { header: contentHeader(e), body: e.body };
    default:
      return { header: contentHeader(e) };
  }
}

async function* toTarEntries(entries: AsyncIterable<Entry>): AsyncGenerator<TarWriteEntry> {
  for await (const e of entries) yield ociTarEntry(e);
}

function* toTarEntriesSync(entries: Iterable<Entry>): Generator<TarWriteEntry> {
  for (const e of entries) yield ociTarEntry(e);
}

/** Write entries as an uncompressed OCI layer tar. A plain iterable (pack's walk) is written without a promise per entry. */
export function writeOciLayer(entries: AsyncIterable<Entry> | Iterable<Entry>, opts: WriteTarOptions = {}): AsyncGenerator<Buffer> {
  return writeTar(Symbol.iterator in entries ? toTarEntriesSync(entries) : toTarEntries(entries), opts);
}
