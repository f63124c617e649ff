import fs from 'node:fs';

export type BigStats = fs.BigIntStats;

/**
 * The part of an lstat a layer entry is made from: what `fs.BigIntStats` has,
 * and what a directory scanned on another thread brings back (src/overlay/dir-scan.ts).
 */
export type EntryStats = Pick<
  BigStats,
  'mode' | 'uid' | 'gid' | 'size' | 'nlink' | 'dev' | 'ino' | 'rdev' | 'mtimeNs' | 'isFile' | 'isDirectory' | 'isSymbolicLink' | 'isCharacterDevice' | 'isBlockDevice' | 'isFIFO' | 'isSocket'
>;

/** Seconds as a float. Node sets times from doubles, so sub-microsecond digits are not kept anyway. */
export function mtimeSeconds(st: EntryStats): number {
  const ns = st.mtimeNs;
  const sec = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return Number(sec) + Number(frac) / 1e9;
}

export function permBits(st: EntryStats): number {
  return Number(st.mode & 0o7777n);
}

/**
 * lstat, or undefined when nothing is there. In line, like the other per-entry
 * syscalls (SPEC.md §10): through the threadpool, the 10,000 lstats that
 * unpacking 10,000 whiteouts needs cost a second of round trips; in line, ~60 ms.
 * `throwIfNoEntry: false` also spares building an error for every absent path.
 */
export function lstatSyncOrUndefined(p: Buffer | string): BigStats | undefined {
  try {
    return fs.lstatSync(p, { bigint: true, throwIfNoEntry: false });
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** lstatSyncOrUndefined behind a promise, for callers that await. */
export async function lstatOrUndefined(p: Buffer | string): Promise<BigStats | undefined> {
  return lstatSyncOrUndefined(p);
}

export function isWhiteoutDevice(st: EntryStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

export function major(rdev: bigint): number {
  // glibc's gnu_dev_major
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn & 0xffffffffn));
}

export function minor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn & 0xffffffffn));
}
