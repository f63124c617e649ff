/**
 * The merged view of the layers checked so far, as a tree of path kinds: what
 * an image-level rule asks about "the layers below". One node per path, never
 * content, so memory grows with the number of paths only.
 */
import { ROOT } from '../paths.js';

export type TreeKind = 'dir' | 'symlink' | 'nondir';

interface Node {
  kind: TreeKind;
  children?: Map<string, Node>;
}

function split(p: string): string[] {
  return p === ROOT ? [] : p.split('/');
}

export class MergedTree {
  private readonly root: Node = { kind: 'dir', children: new Map() };

  private find(p: string): Node | undefined {
    let n: Node | undefined = this.root;
    for (const c of split(p)) {
      if (!n || n.kind !== 'dir') return undefined;
      n = n.children?.get(c);
    }
    return n;
  }

  /** What the merged view has at `p`; a non-directory on the way means nothing is there. */
  kindOf(p: string): TreeKind | 'absent' {
    return this.find(p)?.kind ?? 'absent';
  }

  hasChildren(dir: string): boolean {
    const n = this.find(dir);
    return n?.kind === 'dir' && (n.children?.size ?? 0) > 0;
  }

  /** A whiteout: the path and everything below it go. */
  remove(p: string): void {
    const parts = split(p);
    const last = parts.pop();
    if (last === undefined) return;
    const parent = this.find(parts.join('/'));
    if (parent?.kind === 'dir') parent.children?.delete(last);
  }

  /** An opaque marker: the directory stays, its children go. */
  clear(dir: string): void {
    const n = this.find(dir);
    if (n?.kind === 'dir') n.children = new Map();
  }

  /**
   * An entry of an upper layer: its implied parents become directories (a
   * directory over a non-directory does not merge), a directory over a
   * directory merges, anything else replaces what was there.
   */
  add(p: string, kind: TreeKind): void {
    const parts = split(p);
    const last = parts.pop();
    let n = this.root;
    for (const c of parts) {
      const children = (n.children ??= new Map());
      let next = children.get(c);
      if (!next || next.kind !== 'dir') {
        next = { kind: 'dir', children: new Map() };
        children.set(c, next);
      }
      n = next;
    }
    if (last === undefined) return; // the root is always a directory
    const children = (n.children ??= new Map());
    const old = children.get(last);
    if (kind === 'dir' && old?.kind === 'dir') return;
    children.set(last, kind === 'dir' ? { kind, children: new Map() } : { kind });
  }
}
