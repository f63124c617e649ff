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

/**
 * Leaves hold nothing of their own: one shared node per kind (a node each was
 * 14 MB for a layer of 300,000 files).
 */
const LEAF: Readonly<Record<Exclude<TreeKind, 'dir'>, Node>> = { symlink: Object.freeze({ kind: 'symlink' }), nondir: Object.freeze({ kind: 'nondir' }) };

/**
 * A name kept as a string of its own: a component split from a path is a view
 * of the whole path in V8 (for 13 characters and more), and a tree of such
 * views kept every path of the image alive (~110 bytes a path instead of ~50).
 */
function own(name: string): string {
  return name.length < 13 ? name : Buffer.from(name, 'latin1').toString('latin1');
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
        const replaced = next !== undefined;
        next = { kind: 'dir', children: new Map() };
        children.set(replaced ? c : own(c), next);
      }
      n = next;
    }
    if (last === undefined) return; // the root is always a directory
    const children = (n.children ??= new Map());
    const old = children.get(last);
    if (kind === 'dir' && old?.kind === 'dir') return;
    children.set(old === undefined ? own(last) : last, kind === 'dir' ? { kind, children: new Map() } : LEAF[kind]);
  }
}
