/** Shared helpers for the tar codec tests. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readTar } from '../../src/tar/read.js';
import type { TarEntryInfo, TarHeader, TarLimits, TarWriteEntry } from '../../src/tar/types.js';
import { writeTar } from '../../src/tar/write.js';

export const REAL = new URL('../../../shared/real-images/', import.meta.url).pathname;

/** Split a buffer into chunks of `size` bytes (the last may be shorter). */
export async function* chunked(buf: Buffer, size = 65536): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

export async function collect(src: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of src) parts.push(c);
  return Buffer.concat(parts);
}

export async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

export function hdr(p: Partial<TarHeader> & { name: string }): TarHeader {
  return {
    type: 'file',
    size: 0,
    mode: 0o644,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: 1700000000,
    linkname: '',
    devmajor: 0,
    devminor: 0,
    xattrs: new Map(),
    pax: new Map(),
    ...p,
  };
}

/** A file entry whose body is `data`. */
export function file(name: string, data: Buffer | string, p: Partial<TarHeader> = {}): TarWriteEntry {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  return { header: hdr({ name, size: body.length, ...p }), body };
}

export async function writeAll(entries: TarWriteEntry[]): Promise<Buffer> {
  return collect(writeTar(from(entries)));
}

export interface ReadBack {
  header: TarEntryInfo;
  data: Buffer;
}

export async function readAll(
  tar: Buffer | AsyncIterable<Buffer>,
  opts: { chunk?: number; name?: string; limits?: Partial<TarLimits> } = {},
): Promise<ReadBack[]> {
  const src = Buffer.isBuffer(tar) ? chunked(tar, opts.chunk ?? 65536) : tar;
  const out: ReadBack[] = [];
  for await (const e of readTar(src, { name: opts.name ?? 'test.tar', ...(opts.limits ? { limits: opts.limits } : {}) })) {
    out.push({ header: e.header, data: await collect(e.body) });
  }
  return out;
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 28 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.toString()}`);
  return r.stdout;
}

/** A temporary directory for the duration of `fn`. */
export async function withTmp<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'whiteout-tar-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Set a field of a raw header block and fix its checksum. */
export function patchBlock(block: Buffer, off: number, value: Buffer | string): void {
  (typeof value === 'string' ? Buffer.from(value, 'latin1') : value).copy(block, off);
  fixChecksum(block);
}

export function fixChecksum(block: Buffer): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += block[i]!;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
}

/** Whether a command is on PATH (some cross-checks need tools a bare machine may lack). */
export function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}
