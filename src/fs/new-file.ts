/**
 * Create and fill one new file with as few syscalls as its metadata allows:
 * open (with the final mode when the umask keeps it), write, futimes, close;
 * fchown and fchmod only when needed (SPEC.md §Performance).
 *
 * These are synchronous calls on purpose. Measured on this project's machines,
 * creating 30,000 small files through the libuv threadpool (64 in flight) costs
 * 2–3× the CPU of doing the same syscalls in line, because every async call pays
 * for a request object, a threadpool hand-off and a wake-up; GNU tar, the bar
 * to meet, makes the same syscalls in line too.
 */
import fs from 'node:fs';
import { hasCode } from '../errors.js';
import { writeXattrsFdSync } from './xattr.js';

const O_CREATE_FILE = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;

const umask = process.umask();

export interface NewFile {
  target: Buffer;
  mode: number;
  /** chown to these when set. */
  owner?: { uid: number; gid: number } | undefined;
  mtime: number;
  /** Called with the open descriptor after the owner and before the mode and times (xattrs). */
  withFd?: ((fd: number) => void) | undefined;
}

/** Open a new file; a non-directory left by an earlier duplicate entry is replaced. */
export function createNew(target: Buffer, mode: number): number {
  try {
    return fs.openSync(target, O_CREATE_FILE, mode);
  } catch (e) {
    if (!hasCode(e, 'EEXIST')) throw e;
    fs.unlinkSync(target);
    return fs.openSync(target, O_CREATE_FILE, mode);
  }
}

export function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
}

/** Set owner, mode, xattrs and times on a file just written, then close it. */
export function finishNew(fd: number, f: NewFile): void {
  try {
    // chown clears setuid/setgid and file capabilities, so it comes before chmod and xattrs.
    if (f.owner) fs.fchownSync(fd, f.owner.uid, f.owner.gid);
    // xattrs before chmod: an unprivileged process needs write permission to set user.* ones.
    f.withFd?.(fd);
    if (f.owner || f.withFd || (f.mode & ~umask) !== f.mode) fs.fchmodSync(fd, f.mode);
    fs.futimesSync(fd, f.mtime, f.mtime);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The `withFd` step that sets a new file's xattrs through its descriptor, or
 * undefined when it has none; `explain` turns a refusal into the error to report.
 */
export function xattrStep(xattrs: Map<string, Buffer>, explain: (e: unknown) => unknown): ((fd: number) => void) | undefined {
  if (xattrs.size === 0) return undefined;
  return (fd) => {
    try {
      writeXattrsFdSync(fd, xattrs);
    } catch (err) {
      throw explain(err);
    }
  };
}
