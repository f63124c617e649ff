/** Small builders for entry streams, so writer tests need no tar. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Entry, Meta } from '../../src/entry.js';

export function meta(over: Partial<Meta> = {}): Meta {
  return { mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, xattrs: new Map(), ...over };
}

export function file(p: string, content: string | Buffer, over: Partial<Meta> = {}): Entry {
  const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return {
    kind: 'file',
    path: p,
    meta: meta(over),
    size: body.length,
    body: (async function* () {
      yield body;
    })(),
  };
}

export function dir(p: string, over: Partial<Meta> = {}): Entry {
  return { kind: 'dir', path: p, meta: meta({ mode: 0o755, ...over }) };
}

export function symlink(p: string, target: string): Entry {
  return { kind: 'symlink', path: p, meta: meta({ mode: 0o777 }), target };
}

export function hardlink(p: string, target: string): Entry {
  return { kind: 'hardlink', path: p, meta: meta(), target };
}

export function whiteout(p: string): Entry {
  return { kind: 'whiteout', path: p };
}

export function opaque(p: string): Entry {
  return { kind: 'opaque', path: p };
}

export async function* stream(entries: Entry[]): AsyncGenerator<Entry> {
  for (const e of entries) yield e;
}

export async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

export async function concat(it: AsyncIterable<Buffer>): Promise<Buffer> {
  return Buffer.concat(await collect(it));
}

/** A fresh temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'whiteout-test-'): { dir: string; cleanup: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export const isRoot = process.getuid?.() === 0;
