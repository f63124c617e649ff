/**
 * Node has no mknod(2) (nodejs/node#1740), so device nodes and FIFOs are made
 * by coreutils' `mknod`, at an ASCII scratch name in a work dir this process
 * owns, then renamed into place: spawn arguments cannot carry non-UTF-8
 * bytes, and rename(2) never follows a symlink at the destination.
 *
 * Whiteouts do not need a process each: like the kernel since Linux 5.8
 * (commit c21c839b8448, "ovl: whiteout inode sharing"), every whiteout is a
 * hard link to one shared 0/0 inode, so 10,000 whiteouts cost one spawn.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { WhiteoutError, hasCode, isSystemError } from '../errors.js';

const run = promisify(execFile);

export type NodeType = 'char' | 'block' | 'fifo';

let scratchCounter = 0;

async function mknodAt(scratchPath: string, type: NodeType, major: number, minor: number, mode = '0600'): Promise<void> {
  const args = type === 'fifo' ? [scratchPath, 'p'] : [scratchPath, type === 'char' ? 'c' : 'b', String(major), String(minor)];
  try {
    await run('mknod', ['-m', mode, ...args]);
  } catch (e) {
    const stderr = (e as { stderr?: unknown }).stderr;
    const msg = typeof stderr === 'string' && stderr.trim() ? stderr.trim().split('\n')[0] : String(e);
    if (isSystemError(e) && e.code === 'ENOENT') {
      throw new WhiteoutError('mknod', 'the mknod program (coreutils) is not installed', 'io');
    }
    if (/Operation not permitted/i.test(msg ?? '')) {
      throw new WhiteoutError('mknod', `not permitted to create a ${type} device here`, 'privilege');
    }
    throw new WhiteoutError('mknod', msg ?? 'failed', 'io');
  }
}

/** Make a device node or FIFO at `dest` (a Buffer path whose parent is a directory we own). */
export async function makeNode(workDir: string, dest: Buffer, type: NodeType, major: number, minor: number): Promise<void> {
  const scratch = path.join(workDir, `node-${process.pid}-${scratchCounter++}`);
  await mknodAt(scratch, type, major, minor);
  await fs.promises.rename(scratch, dest);
}

/**
 * Hands out hard links to a shared 0/0 character device. A new inode is made
 * when the file system's link limit is reached (EMLINK), as the kernel does.
 */
export class WhiteoutInodes {
  private template: string | undefined;
  private made = 0;

  constructor(private readonly workDir: string) {}

  /** Make a new shared inode; linkSync uses it from then on. */
  async renew(): Promise<string> {
    const p = path.join(this.workDir, `whiteout-${this.made++}`);
    // Mode 0, as the kernel makes its whiteouts (WHITEOUT_MODE).
    await mknodAt(p, 'char', 0, 0, '0000');
    this.template = p;
    return p;
  }

  /**
   * Link `dest` to the shared inode, in line: one syscall per whiteout, cheaper than a threadpool
   * round trip. False when there is no inode to link to yet, or it is full (EMLINK): renew(), then
   * call again. Synchronous so that a writer storing 10,000 whiteouts pays no promise for each.
   */
  linkSync(dest: Buffer): boolean {
    if (this.template === undefined) return false;
    try {
      fs.linkSync(this.template, dest);
    } catch (e) {
      if (!hasCode(e, 'EMLINK')) throw e;
      this.template = undefined;
      return false;
    }
    return true;
  }

  /** Link `dest` to the shared inode, making one first when needed. */
  async link(dest: Buffer): Promise<void> {
    if (this.linkSync(dest)) return;
    fs.linkSync(await this.renew(), dest);
  }
}
