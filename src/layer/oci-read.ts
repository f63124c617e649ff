/**
 * Reader for the OCI/AUFS tar form: tar entries in, neutral entries out.
 * `.wh.X` becomes a whiteout of X, `.wh..wh..opq` an opaque marker for its
 * directory (image-spec layer.md §Whiteouts). Names are normalised and
 * checked here, once, for every writer (SPEC.md §Names).
 */
import type { Entry, Meta } from '../entry.js';
import { WhiteoutError, type WarningSink } from '../errors.js';
import { type What, classifyName, display, normalizeName, whatOf } from '../paths.js';
import { readTar } from '../tar/read.js';
import type { TarEntryInfo, TarLimits, TarReadEntry } from '../tar/types.js';

export interface LayerReadOptions {
  /** Name of the input, for messages. */
  name: string;
  onWarning?: WarningSink;
  limits?: Partial<TarLimits>;
}

export function metaOf(h: TarEntryInfo): Meta {
  const meta: Meta = { mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime, xattrs: h.xattrs };
  if (h.uname) meta.uname = h.uname;
  if (h.gname) meta.gname = h.gname;
  if (h.pax.size > 0) meta.pax = h.pax;
  return meta;
}

/**
 * Turn one tar entry's content into an entry at `path` (markers aside). Shared
 * with the overlay-form tar reader, which reads the same tar types.
 */
export function contentEntry(t: TarReadEntry, path: string, where: What): Entry {
  const h = t.header;
  const meta = metaOf(h);
  switch (h.type) {
    case 'file':
      return { kind: 'file', path, meta, size: h.size, body: t.body };
    case 'dir':
      return { kind: 'dir', path, meta };
    case 'symlink':
      return { kind: 'symlink', path, meta, target: h.linkname };
    case 'hardlink':
      return { kind: 'hardlink', path, meta, target: normalizeName(h.linkname, where) };
    case 'char':
    case 'block':
      return { kind: h.type, path, meta, major: h.devmajor, minor: h.devminor };
    case 'fifo':
      return { kind: 'fifo', path, meta };
  }
}

export function where(name: string, h: TarEntryInfo): string {
  return `${name}: entry '${display(h.name)}' at offset ${h.offset}`;
}

/** Read an uncompressed OCI layer tar as entries. */
export async function* readOciLayer(tar: AsyncIterable<Buffer>, opts: LayerReadOptions): AsyncGenerator<Entry> {
  const warn = opts.onWarning ?? (() => {});
  for await (const t of readTar(tar, { name: opts.name, limits: opts.limits ?? {} })) {
    const h = t.header;
    // Built only for an error message: a string per entry was measurable on small entries.
    const w = () => where(opts.name, h);
    const path = normalizeName(h.name, w);
    const meaning = classifyName(path, w);
    switch (meaning.kind) {
      case 'aufs-meta':
        warn(`${opts.name}: skipping AUFS metadata entry '${display(path)}'`);
        continue;
      case 'opaque':
        yield { kind: 'opaque', path: meaning.dir };
        continue;
      case 'whiteout':
        // The spec says a whiteout is an empty regular file; umoci and moby accept any
        // type, and so do we, but a whiteout carrying data is refused rather than guessed at.
        if (h.type === 'file' && h.size > 0) {
          throw new WhiteoutError(whatOf(w), `whiteout entry has ${h.size} bytes of content`, 'input');
        }
        yield { kind: 'whiteout', path: meaning.path };
        continue;
      case 'plain':
        if (path === '' && h.type !== 'dir') {
          throw new WhiteoutError(whatOf(w), `refusing to turn the layer root into a ${h.type}`, 'unsafe');
        }
        yield contentEntry(t, path, w);
    }
  }
}
