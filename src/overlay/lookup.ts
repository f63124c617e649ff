/**
 * Overlay lookup over layer directories on disk, the way the kernel resolves a
 * path in a stack of lower layers (overlayfs.rst §whiteouts and opaque
 * directories). Writers use it to give an implied directory the metadata of
 * the directory it merges with below, and pack uses it to find the data of a
 * `metacopy` file in the lower layers (src/overlay/dir-read.ts). Every lookup
 * is a few syscalls in line; the async methods are the same lookups, for callers
 * that await.
 */
import fs from 'node:fs';
import { WhiteoutError } from '../errors.js';
import { OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, baseOf, display, join, parentOf, toFsPath } from '../paths.js';
import { type BigStats, isWhiteoutDevice, lstatSyncOrUndefined } from '../fs/stat.js';
import { readXattrSync, readXattrsSync } from '../fs/xattr.js';
import { type OverlayForm, activeNamespace } from './forms.js';

export interface Found {
  /** Index into the view's layers (0 = top). */
  layer: number;
  /** The real path on disk. */
  real: Buffer;
  stat: BigStats;
  /**
   * The directory it was found in, in the layers below its own (each with the
   * directory's path there): where its name, or a name its redirect gives,
   * is looked up further down.
   */
  below: readonly LayerDir[];
}

/** One layer's part of a merged directory: the layer, and the directory's path in it (a rename makes them differ). */
export interface LayerDir {
  layer: number;
  path: string;
}

/** Merged directories an OverlayView remembers (oldest forgotten first). */
const DIR_CACHE = 1024;

export class OverlayView {
  private readonly ns: string;
  private readonly dirCache = new Map<string, readonly LayerDir[] | undefined>();

  /** `layers` are directories, topmost first, as in `lowerdir=`. */
  constructor(
    readonly layers: readonly string[],
    readonly form: OverlayForm,
  ) {
    this.ns = activeNamespace(form.userxattr);
  }

  private real(layer: number, p: string): Buffer {
    const base = this.layers[layer] ?? '';
    return Buffer.concat([Buffer.from(base, 'utf8'), toFsPath(p === ROOT ? '' : `/${p}`)]);
  }

  /** Is the object at `p` in layer `i` a whiteout in this form? */
  isWhiteoutSync(i: number, p: string, st: BigStats): boolean {
    if (isWhiteoutDevice(st)) return true;
    if (this.form.whiteouts === 'xattr' && st.isFile() && st.size === 0n && i < this.layers.length - 1) {
      if (readXattrSync(this.real(i, p), `${this.ns}whiteout`) !== undefined) {
        return readXattrSync(this.real(i, parentOf(p)), `${this.ns}opaque`)?.toString('latin1') === 'x';
      }
    }
    return false;
  }

  async isWhiteout(i: number, p: string, st: BigStats): Promise<boolean> {
    return this.isWhiteoutSync(i, p, st);
  }

  private aufsWhiteout(i: number, p: string): boolean {
    if (this.form.whiteouts !== 'aufs' || p === ROOT) return false;
    return lstatSyncOrUndefined(this.real(i, join(parentOf(p), WHITEOUT_PREFIX + baseOf(p)))) !== undefined;
  }

  /** `xattrs`: the directory's, when the caller has them already. */
  isOpaqueSync(i: number, dir: string, xattrs?: Map<string, Buffer>): boolean {
    if (dir === ROOT) return false; // the kernel never reads opacity on a layer root
    const v = xattrs ? xattrs.get(`${this.ns}opaque`) : readXattrSync(this.real(i, dir), `${this.ns}opaque`);
    if (v?.toString('latin1') === 'y') return true;
    return this.form.whiteouts === 'aufs' && lstatSyncOrUndefined(this.real(i, join(dir, OPAQUE_MARKER))) !== undefined;
  }

  async isOpaque(i: number, dir: string): Promise<boolean> {
    return this.isOpaqueSync(i, dir);
  }

  /**
   * The merged directory at `dir` (from layer `from` down): each layer whose
   * directory takes part, topmost first, with that directory's path in it; or
   * undefined when `dir` is not a directory in the merge. A directory with a
   * `redirect` (renamed under redirect_dir=on) continues below where its
   * redirect says, as the kernel's lookup does (overlayfs.rst "Redirect dir"):
   * an absolute one from the root of the layers below it, a relative one as
   * another name in the same directory.
   */
  mergedDirSync(dir: string, from = 0): readonly LayerDir[] | undefined {
    if (dir === ROOT) return this.layers.map((_, i) => ({ layer: i, path: ROOT })).filter((d) => d.layer >= from);
    // Lookups come in runs under one directory (a layer's whiteouts, a directory's children):
    // the layers are not written while a view reads them, so a recent answer still holds.
    const key = `${from}:${dir}`;
    const cached = this.dirCache.get(key);
    if (cached !== undefined || this.dirCache.has(key)) return cached;
    const parent = this.mergedDirSync(parentOf(dir), from);
    const found = parent && this.childDir(parent, baseOf(dir));
    if (this.dirCache.size >= DIR_CACHE) this.dirCache.delete(this.dirCache.keys().next().value as string);
    this.dirCache.set(key, found);
    return found;
  }

  /** The merged directory `name` in the merged directory `parent`. */
  private childDir(parent: readonly LayerDir[], name: string): LayerDir[] | undefined {
    const out: LayerDir[] = [];
    let current = name;
    for (const { layer: i, path } of parent) {
      const p = join(path, current);
      if (this.aufsWhiteout(i, p)) break;
      const st = lstatSyncOrUndefined(this.real(i, p));
      if (!st) continue;
      if (this.isWhiteoutSync(i, p, st)) break;
      if (!st.isDirectory()) break; // a non-directory hides everything below it
      out.push({ layer: i, path: p });
      // Opacity and a redirect in one listing of the directory's xattrs, not one open and read each.
      const xattrs = readXattrsSync(this.real(i, p), false);
      if (this.isOpaqueSync(i, p, xattrs)) break;
      const value = xattrs.get(`${this.ns}redirect`);
      if (value === undefined) continue;
      const redirect = checkedRedirect(value, this.ns, `${this.layers[i]}/${display(p)}`);
      if ('absolute' in redirect) {
        out.push(...(this.mergedDirSync(redirect.absolute, i + 1) ?? []));
        break;
      }
      current = redirect.name;
    }
    return out.length > 0 ? out : undefined;
  }

  /** The layers whose directory takes part in the merged directory `dir`, topmost first. */
  async mergedDirLayers(dir: string): Promise<number[] | undefined> {
    return this.mergedDirSync(dir)?.map((d) => d.layer);
  }

  /** The topmost object named `name` in the merged directory `dir` (a list from mergedDirSync, or a Found's `below`). */
  findSync(dir: readonly LayerDir[], name: string): Found | undefined {
    for (const [k, { layer: i, path }] of dir.entries()) {
      const p = join(path, name);
      if (this.aufsWhiteout(i, p)) return undefined;
      const st = lstatSyncOrUndefined(this.real(i, p));
      if (!st) continue;
      if (this.isWhiteoutSync(i, p, st)) return undefined;
      return { layer: i, real: this.real(i, p), stat: st, below: dir.slice(k + 1) };
    }
    return undefined;
  }

  /** The topmost object at `p` in the merge of the layers from `from` down, or undefined when nothing shows there. */
  lookupSync(p: string, from = 0): Found | undefined {
    if (p === ROOT) {
      if (from >= this.layers.length) return undefined;
      const st = lstatSyncOrUndefined(this.real(from, ROOT));
      return st ? { layer: from, real: this.real(from, ROOT), stat: st, below: [] } : undefined;
    }
    const dir = this.mergedDirSync(parentOf(p), from);
    return dir && this.findSync(dir, baseOf(p));
  }

  async lookup(p: string): Promise<Found | undefined> {
    return this.lookupSync(p);
  }

  /** Names visible in the merged directory `dir` (of the layers from `from` down), each with its topmost object. */
  listSync(dir: string, from = 0): Map<string, Found> {
    const out = new Map<string, Found>();
    const dirs = this.mergedDirSync(dir, from);
    if (!dirs) return out;
    const hidden = new Set<string>();
    for (const [k, { layer: i, path }] of dirs.entries()) {
      const names = fs.readdirSync(this.real(i, path), { encoding: 'latin1' }).sort();
      for (const name of names) {
        if (this.form.whiteouts === 'aufs' && name.startsWith(WHITEOUT_PREFIX)) {
          if (name !== OPAQUE_MARKER) hidden.add(name.slice(WHITEOUT_PREFIX.length));
          continue;
        }
        if (hidden.has(name) || out.has(name)) continue;
        const p = join(path, name);
        const st = lstatSyncOrUndefined(this.real(i, p));
        if (!st) continue;
        if (this.isWhiteoutSync(i, p, st)) {
          hidden.add(name);
          continue;
        }
        out.set(name, { layer: i, real: this.real(i, p), stat: st, below: dirs.slice(k + 1) });
        // A non-directory hides a same-named object below; a directory merges, but its
        // metadata is the topmost one, which is what `out` keeps.
      }
    }
    return out;
  }

  async list(dir: string): Promise<Map<string, Found>> {
    return this.listSync(dir);
  }
}

/**
 * A `redirect` xattr's value: an absolute path from the layer root ("/a/b"), or
 * one name in the same directory ("b"). Undefined for anything else (an empty,
 * '.' or '..' component, a relative path with a '/'): followed as it is, such a
 * value could reach outside the layers.
 */
export function parseRedirect(v: string): { absolute: string } | { name: string } | undefined {
  const clean = (parts: string[]) => parts.length > 0 && parts.every((c) => c !== '' && c !== '.' && c !== '..' && !c.includes('\0'));
  if (v.startsWith('/')) {
    const parts = v.replace(/^\/+/, '').split('/');
    return clean(parts) ? { absolute: parts.join('/') } : undefined;
  }
  return clean([v]) && !v.includes('/') ? { name: v } : undefined;
}

/** A `redirect` xattr's value met at `what`, parsed; one that parseRedirect refuses is an error naming `what`. */
export function checkedRedirect(value: Buffer, ns: string, what: string): { absolute: string } | { name: string } {
  const v = value.toString('latin1');
  const r = parseRedirect(v);
  if (!r) throw new WhiteoutError(what, `has a ${ns}redirect that is neither a clean absolute path nor one name: '${display(v)}'`, 'input');
  return r;
}
