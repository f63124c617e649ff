/**
 * An in-memory file tree with the plain extraction rules of a layer
 * changeset: the shared core of the OCI reference model and of the rootfs tar
 * snapshot. Deliberately naive (a flat map, subtree removal by prefix scan):
 * it is a reference, so it has to be obviously right, not fast.
 */
import type { NodeType, SnapNode, TreeSnapshot } from './snapshot.js';

export interface MemMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  xattrs: Map<string, Buffer>;
}

export interface MemNode extends MemMeta {
  type: NodeType;
  size?: number;
  sha256?: string;
  target?: string;
  major?: number;
  minor?: number;
  /** Identity of the underlying inode: hardlinks share it. */
  inode: number;
}

/** Leaf content as given to putLeaf; the tree assigns the inode. */
export type LeafSpec = Omit<MemNode, 'inode' | 'xattrs'> & { xattrs: Map<string, Buffer> };

/** What an implied directory gets: the value containerd, moby and our model all agree on but mtime. */
export function impliedDirMeta(): MemMeta {
  return { mode: 0o755, uid: 0, gid: 0, mtime: 0, xattrs: new Map() };
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

function isBelow(p: string, dir: string): boolean {
  return dir === '' ? p !== '' : p.startsWith(`${dir}/`);
}

export class MemTree {
  readonly nodes = new Map<string, MemNode>();
  private nextInode = 1;

  constructor() {
    this.nodes.set('', { type: 'dir', ...impliedDirMeta(), inode: this.nextInode++ });
  }

  get(p: string): MemNode | undefined {
    return this.nodes.get(p);
  }

  isDir(p: string): boolean {
    return this.nodes.get(p)?.type === 'dir';
  }

  /** Inode numbers handed out from here on are newer than this mark. */
  mark(): number {
    return this.nextInode;
  }

  /** Remove `p` and everything below it. The root itself is never removed. */
  removeSubtree(p: string): void {
    for (const q of [...this.nodes.keys()]) if (q !== '' && (q === p || isBelow(q, p))) this.nodes.delete(q);
  }

  /** Remove everything below `dir`, keeping `dir`. */
  removeChildren(dir: string): void {
    for (const q of [...this.nodes.keys()]) if (isBelow(q, dir)) this.nodes.delete(q);
  }

  /**
   * Make `p` a directory, creating implied ones on the way: an existing
   * directory stays as it is; anything else there (a file, or a symlink,
   * which is never followed) is replaced by a fresh implied directory.
   */
  ensureDir(p: string): void {
    if (p === '') return;
    this.ensureDir(parentOf(p));
    if (this.isDir(p)) return;
    this.removeSubtree(p);
    this.nodes.set(p, { type: 'dir', ...impliedDirMeta(), inode: this.nextInode++ });
  }

  /** A directory entry: over a directory it replaces the attributes and keeps the children. */
  putDir(p: string, meta: MemMeta): void {
    this.ensureDir(parentOf(p));
    const old = this.nodes.get(p);
    if (old?.type === 'dir') {
      this.nodes.set(p, { ...old, ...copyMeta(meta) });
      return;
    }
    this.removeSubtree(p);
    this.nodes.set(p, { type: 'dir', ...copyMeta(meta), inode: this.nextInode++ });
  }

  /** A non-directory entry: whatever was at `p` (a whole subtree) goes. */
  putLeaf(p: string, leaf: LeafSpec): void {
    if (p === '') throw new Error('a non-directory entry for the root');
    this.ensureDir(parentOf(p));
    this.removeSubtree(p);
    this.nodes.set(p, { ...leaf, xattrs: new Map(leaf.xattrs), inode: this.nextInode++ });
  }

  /**
   * A hardlink: the same inode as `target` has at this moment. With
   * `newerThan`, the target must have been created after that mark (an
   * earlier entry of the same layer), as tar semantics require.
   */
  putHardlink(p: string, target: string, what: string, newerThan = 0): void {
    const t = this.nodes.get(target);
    if (!t || t.type === 'dir' || t.inode < newerThan) {
      throw new Error(`${what}: hardlink '${p}' → '${target}': the target is not an earlier non-directory entry of this layer`);
    }
    if (p === target) throw new Error(`${what}: hardlink '${p}' links to itself`);
    this.ensureDir(parentOf(p));
    this.removeSubtree(p);
    this.nodes.set(p, t);
  }

  /** The tree as a snapshot; hardlinks become link groups. */
  toSnapshot(): TreeSnapshot {
    const nodes = new Map<string, SnapNode>();
    const byInode = new Map<number, string[]>();
    for (const p of [...this.nodes.keys()].sort()) {
      const n = this.nodes.get(p) as MemNode;
      const s: SnapNode = {
        type: n.type,
        mode: n.type === 'symlink' ? 0o777 : n.mode & 0o7777,
        uid: n.uid,
        gid: n.gid,
        mtime: Math.round(n.mtime * 1e6) / 1e6,
        xattrs: hex(n.xattrs),
      };
      if (n.type === 'file') {
        s.size = n.size ?? 0;
        s.sha256 = n.sha256 ?? '';
      }
      if (n.type === 'symlink') s.target = n.target ?? '';
      if (n.type === 'char' || n.type === 'block') {
        s.major = n.major ?? 0;
        s.minor = n.minor ?? 0;
      }
      nodes.set(p, s);
      if (n.type !== 'dir') {
        const g = byInode.get(n.inode);
        if (g) g.push(p);
        else byInode.set(n.inode, [p]);
      }
    }
    for (const paths of byInode.values()) {
      if (paths.length < 2) continue;
      const first = [...paths].sort()[0] as string;
      for (const p of paths) (nodes.get(p) as SnapNode).linkGroup = first;
    }
    return { nodes, ghosts: [] };
  }
}

function copyMeta(m: MemMeta): MemMeta {
  return { mode: m.mode & 0o7777, uid: m.uid, gid: m.gid, mtime: m.mtime, xattrs: new Map(m.xattrs) };
}

function hex(x: Map<string, Buffer>): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of [...x.keys()].sort()) out.set(k, (x.get(k) as Buffer).toString('hex'));
  return out;
}
