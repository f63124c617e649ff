/**
 * Extended attributes without following symlinks and with byte-exact names.
 * fs-xattr calls getxattr/setxattr/listxattr, which follow a symlink at the
 * leaf and take UTF-8 paths. Opening the object itself with O_PATH|O_NOFOLLOW
 * and going through /proc/self/fd/N reaches the symlink (or any file) itself,
 * whatever bytes its name has.
 */
import fs from 'node:fs';
import * as fsx from 'fs-xattr';
import { hasCode } from '../errors.js';

const O_PATH = 0o10000000;
const openPathFlags = O_PATH | fs.constants.O_NOFOLLOW;

function procPath(fd: number): string {
  return `/proc/self/fd/${fd}`;
}

async function withPathFd<T>(path: Buffer, fn: (p: string) => Promise<T>): Promise<T> {
  const handle = await fs.promises.open(path, openPathFlags);
  try {
    return await fn(procPath(handle.fd));
  } finally {
    await handle.close();
  }
}

/** All xattrs of the object at `path` (not following a symlink there). */
export async function readXattrs(path: Buffer): Promise<Map<string, Buffer>> {
  return withPathFd(path, (p) => readXattrsAt(p));
}

/** All xattrs of an already open file descriptor. */
export async function readXattrsFd(fd: number): Promise<Map<string, Buffer>> {
  return readXattrsAt(procPath(fd));
}

async function readXattrsAt(p: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = await fsx.listAttributes(p);
  } catch (e) {
    if (hasCode(e, 'ENOTSUP', 'EOPNOTSUPP')) return out;
    throw e;
  }
  for (const name of names.sort()) {
    try {
      out.set(name, await fsx.getAttribute(p, name));
    } catch (e) {
      // Gone between list and get, or not readable by this process (trusted.* when unprivileged).
      if (hasCode(e, 'ENODATA', 'ENOATTR', 'EPERM', 'EACCES')) continue;
      throw e;
    }
  }
  return out;
}

export async function writeXattrs(path: Buffer, xattrs: Map<string, Buffer>): Promise<void> {
  if (xattrs.size === 0) return;
  await withPathFd(path, async (p) => {
    for (const [name, value] of xattrs) await fsx.setAttribute(p, name, value);
  });
}

export async function writeXattrsFd(fd: number, xattrs: Map<string, Buffer>): Promise<void> {
  const p = procPath(fd);
  for (const [name, value] of xattrs) await fsx.setAttribute(p, name, value);
}

export function writeXattrsFdSync(fd: number, xattrs: Map<string, Buffer>): void {
  const p = procPath(fd);
  for (const [name, value] of xattrs) fsx.setAttributeSync(p, name, value);
}

export async function removeXattr(path: Buffer, name: string): Promise<void> {
  await withPathFd(path, async (p) => {
    try {
      await fsx.removeAttribute(p, name);
    } catch (e) {
      if (!hasCode(e, 'ENODATA', 'ENOATTR')) throw e;
    }
  });
}

/** One xattr, or undefined when absent, in line (not following a symlink at `path`). */
export function readXattrSync(path: Buffer, name: string): Buffer | undefined {
  const fd = fs.openSync(path, openPathFlags);
  try {
    return fsx.getAttributeSync(procPath(fd), name);
  } catch (e) {
    if (hasCode(e, 'ENODATA', 'ENOATTR', 'ENOTSUP', 'EOPNOTSUPP')) return undefined;
    throw e;
  } finally {
    fs.closeSync(fd);
  }
}

function readXattrsAtSync(p: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let names: string[];
  try {
    names = fsx.listAttributesSync(p);
  } catch (e) {
    if (hasCode(e, 'ENOTSUP', 'EOPNOTSUPP')) return out;
    throw e;
  }
  for (const name of names.sort()) {
    try {
      out.set(name, fsx.getAttributeSync(p, name));
    } catch (e) {
      if (hasCode(e, 'ENODATA', 'ENOATTR', 'EPERM', 'EACCES')) continue;
      throw e;
    }
  }
  return out;
}

const asciiPath = /^[\x20-\x7e]*$/;

/**
 * xattrs of an object already known not to be a symlink, in line. A plain
 * ASCII path goes straight to listxattr (one syscall: the hot case when packing);
 * anything else through an O_PATH descriptor.
 */
export function readXattrsSync(path: Buffer, isSymlink: boolean): Map<string, Buffer> {
  const s = path.toString('latin1');
  if (!isSymlink && asciiPath.test(s)) return readXattrsAtSync(s);
  const fd = fs.openSync(path, openPathFlags);
  try {
    return readXattrsAtSync(procPath(fd));
  } finally {
    fs.closeSync(fd);
  }
}
