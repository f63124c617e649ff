/**
 * File-system side of the hostile tests: a victim directory to attack,
 * snapshots fine enough to see any touch (ctime moves on every chmod, chown,
 * xattr change, link or utimes, so a victim whose ctimes are unchanged was not
 * touched), and a reader that turns an output tree into plain data.
 *
 * Written independently of src/ on purpose: the code under test must not
 * also be the code that checks it.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as fsx from 'fs-xattr';

const O_PATH = 0o10000000;

/** Byte-exact path join: `rel` is a latin1 byte string. */
export function bpath(base: string, rel: string): Buffer {
  return rel === '' ? Buffer.from(base) : Buffer.concat([Buffer.from(base), Buffer.from(`/${rel}`, 'latin1')]);
}

/** All xattrs of the object itself (never following a symlink at the leaf). */
export function xattrsOf(p: Buffer | string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let fd: number;
  try {
    fd = fs.openSync(p, O_PATH | fs.constants.O_NOFOLLOW);
  } catch {
    return out;
  }
  try {
    const proc = `/proc/self/fd/${fd}`;
    let names: string[] = [];
    try {
      names = fsx.listAttributesSync(proc);
    } catch {
      return out;
    }
    for (const n of names.sort()) {
      if (n === 'security.selinux') continue;
      try {
        out.set(n, fsx.getAttributeSync(proc, n));
      } catch {
        // gone, or not readable
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

export interface Node {
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  nlink: number;
  ino: bigint;
  size: number;
  content?: Buffer;
  target?: string;
  major?: number;
  minor?: number;
  xattrs: Map<string, Buffer>;
}

function typeOf(st: fs.BigIntStats): Node['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'other';
}

export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n));
}
export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n));
}

/**
 * Every object under `root` (root itself is ''), keyed by latin1 byte-string
 * path, without following any symlink. `keepContent` keeps file bytes (up to
 * 1 MiB; larger files keep a digest only).
 */
export function readTree(root: string, opts: { keepContent?: boolean; skip?: (rel: string) => boolean } = {}): Map<string, Node> {
  const out = new Map<string, Node>();
  const visit = (rel: string): void => {
    if (opts.skip?.(rel)) return;
    const real = bpath(root, rel);
    let st: fs.BigIntStats;
    try {
      st = fs.lstatSync(real, { bigint: true });
    } catch {
      return;
    }
    const type = typeOf(st);
    const n: Node = {
      type,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      nlink: Number(st.nlink),
      ino: st.ino,
      size: Number(st.size),
      xattrs: xattrsOf(real),
    };
    if (type === 'file') {
      if (opts.keepContent !== false && st.size <= 1n << 20n) {
        const fd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
        try {
          n.content = fs.readFileSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      } else {
        n.content = Buffer.from(`<${st.size} bytes>`);
      }
    } else if (type === 'symlink') {
      n.target = (fs.readlinkSync(real, { encoding: 'buffer' }) as Buffer).toString('latin1');
    } else if (type === 'char' || type === 'block') {
      n.major = devMajor(st.rdev);
      n.minor = devMinor(st.rdev);
    }
    out.set(rel, n);
    if (type === 'dir') {
      for (const name of (fs.readdirSync(real, { encoding: 'buffer' }) as Buffer[]).map((b) => b.toString('latin1')).sort()) {
        visit(rel === '' ? name : `${rel}/${name}`);
      }
    }
  };
  visit('');
  return out;
}

/** A node as one comparable line: everything, ctime and nlink included. */
function describe(n: Node): string {
  const x = [...n.xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`).join(',');
  const c = n.content ? createHash('sha256').update(n.content).digest('hex').slice(0, 16) : '';
  return `${n.type} ${n.mode.toString(8)} ${n.uid}:${n.gid} m=${n.mtimeNs} c=${n.ctimeNs} nl=${n.nlink} ino=${n.ino} sz=${n.size} ${c} ${n.target ?? ''} ${n.major ?? ''}:${n.minor ?? ''} [${x}]`;
}

export type Snapshot = Map<string, string>;

export function snapshot(root: string, skip?: (rel: string) => boolean): Snapshot {
  const out: Snapshot = new Map();
  for (const [p, n] of readTree(root, { keepContent: true, ...(skip ? { skip } : {}) })) out.set(p, describe(n));
  return out;
}

/** Differences between two snapshots, as readable lines (empty when equal). */
export function diffSnapshots(before: Snapshot, after: Snapshot, label = ''): string[] {
  const d: string[] = [];
  const show = (p: string) => `${label}${JSON.stringify(Buffer.from(p, 'latin1').toString('utf8'))}`;
  for (const [p, v] of before) {
    const w = after.get(p);
    if (w === undefined) d.push(`removed ${show(p)}`);
    else if (w !== v) d.push(`changed ${show(p)}: ${v}  →  ${w}`);
  }
  for (const p of after.keys()) if (!before.has(p)) d.push(`added ${show(p)}: ${after.get(p)}`);
  return d;
}

/** A sandbox: `base/victim` (to attack), `base/in` (inputs), `base/tmp` (TMPDIR for children); the target is `base/out`. */
export interface Sandbox {
  base: string;
  victim: string;
  input: string;
  tmp: string;
  target: string;
  cleanup(): void;
}

const FIXED_TIME = new Date('2001-02-03T04:05:06Z');

/** Fill `victim` with things worth attacking: files, a dir, a setuid-able file, a symlink, xattrs. */
export function fillVictim(victim: string): void {
  fs.mkdirSync(victim, { recursive: true });
  fs.writeFileSync(path.join(victim, 'secret'), 'top secret\n', { mode: 0o640 });
  fs.mkdirSync(path.join(victim, 'sub'), { mode: 0o755 });
  fs.writeFileSync(path.join(victim, 'sub', 'file'), 'sub file\n', { mode: 0o644 });
  fs.writeFileSync(path.join(victim, 'program'), '#!/bin/sh\n', { mode: 0o755 });
  fs.symlinkSync('secret', path.join(victim, 'link-to-secret'));
  try {
    fsx.setAttributeSync(path.join(victim, 'secret'), 'user.victim', 'intact');
    // On the dir too: an implied dir that copied the victim's metadata would show it.
    fsx.setAttributeSync(victim, 'user.victimdir', 'intact');
  } catch {
    // a file system without user xattrs: the other checks still hold
  }
  for (const p of ['secret', 'sub/file', 'program', 'sub', '']) {
    const full = path.join(victim, p);
    // The victim dir's own mode (0751) is one no layer default uses, so a copy of it shows.
    fs.chmodSync(full, p === 'secret' ? 0o640 : p === 'sub/file' ? 0o644 : p === '' ? 0o751 : 0o755);
    fs.utimesSync(full, FIXED_TIME, FIXED_TIME);
  }
}

export function makeSandbox(prefix = 'whiteout-hostile-'): Sandbox {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(base, 0o755);
  const victim = path.join(base, 'victim');
  const input = path.join(base, 'in');
  const tmp = path.join(base, 'tmp');
  fillVictim(victim);
  fs.mkdirSync(input);
  fs.mkdirSync(tmp);
  return {
    base,
    victim,
    input,
    tmp,
    target: path.join(base, 'out'),
    cleanup: () => fs.rmSync(base, { recursive: true, force: true }),
  };
}

/** A relative path from anywhere in a tree back up to `abs` (enough `..` to reach / from any depth we use). */
export function upTo(abs: string, depth = 24): string {
  return `${'../'.repeat(depth)}${abs.replace(/^\/+/, '')}`;
}
