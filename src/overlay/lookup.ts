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
import { OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, baseOf, join, parentOf, toFsPath } from '../paths.js';
import { type BigStats, isWhiteoutDevice, lstatSyncOrUndefined } from '../fs/stat.js';
import { readXattrSync } from '../fs/xattr.js';
import { type OverlayForm, activeNamespace } from './forms.js';

export interface Found {
  /** Index into the view's layers (0 = top). */
  layer: number;
  /** The real path on disk. */
  real: Buffer;
  stat: BigStats;
}

export class OverlayView {
  private readonly ns: string;

  /** `layers` are directories, topmost first, as in `lowerdir=`. */
  constructor(
    readonly layers: readonly string[],
    readonly form: OverlayForm,
  ) {
    this.ns = activeNamespace(form.userxattr);
  }

  real(layer: number, p: string): Buffer {
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

  isOpaqueSync(i: number, dir: string): boolean {
    if (dir === ROOT) return false; // the kernel never reads opacity on a layer root
    if (readXattrSync(this.real(i, dir), `${this.ns}opaque`)?.toString('latin1') === 'y') return true;
    return this.form.whiteouts === 'aufs' && lstatSyncOrUndefined(this.real(i, join(dir, OPAQUE_MARKER))) !== undefined;
  }

  async isOpaque(i: number, dir: string): Promise<boolean> {
    return this.isOpaqueSync(i, dir);
  }

  /**
   * The layers (from `from` down) whose directory at `dir` takes part in the merged
   * directory, topmost first, or undefined when `dir` is not a directory in the merge.
   */
  mergedDirLayersSync(dir: string, from = 0): number[] | undefined {
    let layers = this.layers.map((_, i) => i).filter((i) => i >= from);
    if (dir === ROOT) return layers;
    const parts = dir.split('/');
    let prefix = ROOT;
    for (const part of parts) {
      prefix = join(prefix, part);
      const next: number[] = [];
      for (const i of layers) {
        if (this.aufsWhiteout(i, prefix)) break;
        const st = lstatSyncOrUndefined(this.real(i, prefix));
        if (!st) continue;
        if (this.isWhiteoutSync(i, prefix, st)) break;
        if (!st.isDirectory()) break; // a non-directory hides everything below it
        next.push(i);
        if (this.isOpaqueSync(i, prefix)) break;
      }
      if (next.length === 0) return undefined;
      layers = next;
    }
    return layers;
  }

  async mergedDirLayers(dir: string): Promise<number[] | undefined> {
    return this.mergedDirLayersSync(dir);
  }

  /** The topmost object at `p` in the merge of the layers from `from` down, or undefined when nothing shows there. */
  lookupSync(p: string, from = 0): Found | undefined {
    if (p === ROOT) {
      if (from >= this.layers.length) return undefined;
      const st = lstatSyncOrUndefined(this.real(from, ROOT));
      return st ? { layer: from, real: this.real(from, ROOT), stat: st } : undefined;
    }
    const layers = this.mergedDirLayersSync(parentOf(p), from);
    if (!layers) return undefined;
    for (const i of layers) {
      if (this.aufsWhiteout(i, p)) return undefined;
      const st = lstatSyncOrUndefined(this.real(i, p));
      if (!st) continue;
      if (this.isWhiteoutSync(i, p, st)) return undefined;
      return { layer: i, real: this.real(i, p), stat: st };
    }
    return undefined;
  }

  async lookup(p: string): Promise<Found | undefined> {
    return this.lookupSync(p);
  }

  /** Names visible in the merged directory `dir` (of the layers from `from` down), each with its topmost object. */
  listSync(dir: string, from = 0): Map<string, Found> {
    const out = new Map<string, Found>();
    const layers = this.mergedDirLayersSync(dir, from);
    if (!layers) return out;
    const hidden = new Set<string>();
    for (const i of layers) {
      const names = fs.readdirSync(this.real(i, dir), { encoding: 'latin1' }).sort();
      for (const name of names) {
        if (this.form.whiteouts === 'aufs' && name.startsWith(WHITEOUT_PREFIX)) {
          if (name !== OPAQUE_MARKER) hidden.add(name.slice(WHITEOUT_PREFIX.length));
          continue;
        }
        if (hidden.has(name) || out.has(name)) continue;
        const p = join(dir, name);
        const st = lstatSyncOrUndefined(this.real(i, p));
        if (!st) continue;
        if (this.isWhiteoutSync(i, p, st)) {
          hidden.add(name);
          continue;
        }
        out.set(name, { layer: i, real: this.real(i, p), stat: st });
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
