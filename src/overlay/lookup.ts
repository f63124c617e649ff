/**
 * Overlay lookup over layer directories on disk, the way the kernel resolves a
 * path in a stack of lower layers (overlayfs.rst §whiteouts and opaque
 * directories). Writers use it to give an implied directory the metadata of
 * the directory it merges with below, and pack uses it to follow
 * `redirect`/`metacopy` into the lower layers.
 */
import { readdir } from 'node:fs/promises';
import { OPAQUE_MARKER, ROOT, WHITEOUT_PREFIX, baseOf, join, parentOf, toFsPath } from '../paths.js';
import { type BigStats, isWhiteoutDevice, lstatOrUndefined } from '../fs/stat.js';
import { readXattr } from '../fs/xattr.js';
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

  private real(layer: number, p: string): Buffer {
    const base = this.layers[layer] ?? '';
    return Buffer.concat([Buffer.from(base, 'utf8'), toFsPath(p === ROOT ? '' : `/${p}`)]);
  }

  /** Is the object at `p` in layer `i` a whiteout in this form? */
  async isWhiteout(i: number, p: string, st: BigStats): Promise<boolean> {
    if (isWhiteoutDevice(st)) return true;
    if (this.form.whiteouts === 'xattr' && st.isFile() && st.size === 0n && i < this.layers.length - 1) {
      const marked = await readXattr(this.real(i, p), `${this.ns}whiteout`);
      if (marked !== undefined) {
        const parentMark = await readXattr(this.real(i, parentOf(p)), `${this.ns}opaque`);
        return parentMark?.toString('latin1') === 'x';
      }
    }
    return false;
  }

  private async aufsWhiteout(i: number, p: string): Promise<boolean> {
    if (this.form.whiteouts !== 'aufs' || p === ROOT) return false;
    return (await lstatOrUndefined(this.real(i, join(parentOf(p), WHITEOUT_PREFIX + baseOf(p))))) !== undefined;
  }

  async isOpaque(i: number, dir: string): Promise<boolean> {
    if (dir === ROOT) return false; // the kernel never reads opacity on a layer root
    const v = await readXattr(this.real(i, dir), `${this.ns}opaque`);
    if (v?.toString('latin1') === 'y') return true;
    return this.form.whiteouts === 'aufs' && (await lstatOrUndefined(this.real(i, join(dir, OPAQUE_MARKER)))) !== undefined;
  }

  /**
   * The layers whose directory at `dir` takes part in the merged directory,
   * topmost first, or undefined when `dir` is not a directory in the merge.
   */
  async mergedDirLayers(dir: string): Promise<number[] | undefined> {
    let layers = this.layers.map((_, i) => i);
    if (dir === ROOT) return layers;
    const parts = dir.split('/');
    let prefix = ROOT;
    for (const part of parts) {
      prefix = join(prefix, part);
      const next: number[] = [];
      for (const i of layers) {
        if (await this.aufsWhiteout(i, prefix)) break;
        const st = await lstatOrUndefined(this.real(i, prefix));
        if (!st) continue;
        if (await this.isWhiteout(i, prefix, st)) break;
        if (!st.isDirectory()) break; // a non-directory hides everything below it
        next.push(i);
        if (await this.isOpaque(i, prefix)) break;
      }
      if (next.length === 0) return undefined;
      layers = next;
    }
    return layers;
  }

  /** The topmost object at `p` in the merge, or undefined when nothing shows there. */
  async lookup(p: string): Promise<Found | undefined> {
    if (p === ROOT) {
      if (this.layers.length === 0) return undefined;
      const st = await lstatOrUndefined(this.real(0, ROOT));
      return st ? { layer: 0, real: this.real(0, ROOT), stat: st } : undefined;
    }
    const layers = await this.mergedDirLayers(parentOf(p));
    if (!layers) return undefined;
    for (const i of layers) {
      if (await this.aufsWhiteout(i, p)) return undefined;
      const st = await lstatOrUndefined(this.real(i, p));
      if (!st) continue;
      if (await this.isWhiteout(i, p, st)) return undefined;
      return { layer: i, real: this.real(i, p), stat: st };
    }
    return undefined;
  }

  /** Names visible in the merged directory `dir`, each with its topmost object. */
  async list(dir: string): Promise<Map<string, Found>> {
    const out = new Map<string, Found>();
    const layers = await this.mergedDirLayers(dir);
    if (!layers) return out;
    const hidden = new Set<string>();
    for (const i of layers) {
      const names = (await readdir(this.real(i, dir), { encoding: 'latin1' })).sort();
      for (const name of names) {
        if (this.form.whiteouts === 'aufs' && name.startsWith(WHITEOUT_PREFIX)) {
          if (name !== OPAQUE_MARKER) hidden.add(name.slice(WHITEOUT_PREFIX.length));
          continue;
        }
        if (hidden.has(name) || out.has(name)) continue;
        const p = join(dir, name);
        const st = await lstatOrUndefined(this.real(i, p));
        if (!st) continue;
        if (await this.isWhiteout(i, p, st)) {
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
}
