/**
 * The file system says no: ENOSPC on a small tmpfs, EROFS on a read-only
 * mount, EACCES for a user who may not write the target's parent. Each must
 * give exit 1 and one clear line, and leave neither the target nor a temp dir.
 * Needs root for the mounts and for setpriv; skips say so when it cannot run.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failureProblems, flattenAvailable, runCli, show, stopHosts } from '../helpers/hostile-cli.js';
import { bindMount, flattenWhy, mountTmpfs, nobodyAvailable, remount, runAsNobody, skipUnless, unmount, worldTemp } from '../helpers/hostile-priv.js';
import * as T from '../helpers/hostile-tar.js';

afterAll(() => stopHosts());

/** A layer bigger than 1 MiB: a few files, so the failure comes mid-way, after output has started. */
const BIG = T.tar(T.dir('d'), T.file('d/small', 'small'), ...Array.from({ length: 4 }, (_, i) => T.file(`d/big${i}`, Buffer.alloc(1 << 20, 0x61 + i))), T.file('.wh.gone'));

/** An upper dir for pack, as big as BIG's files. */
function makeUpper(base: string): string {
  const upper = path.join(base, 'upper');
  fs.mkdirSync(upper, { recursive: true });
  for (let i = 0; i < 4; i++) fs.writeFileSync(path.join(upper, `big${i}`), Buffer.alloc(1 << 20, 0x61 + i));
  return upper;
}

type Cmd = 'unpack' | 'to-overlay' | 'flatten' | 'flatten-tar' | 'pack';
// flatten-tar and pack write a file behind their producer (src/fs/atomic.ts): the failed write must still end them.
const commands: Cmd[] = ['unpack', 'to-overlay', 'flatten', 'flatten-tar', 'pack'];
const argsFor = (cmd: Cmd, layer: string, out: string, upper: string): string[] =>
  cmd === 'unpack'
    ? ['unpack', layer, '-o', out]
    : cmd === 'flatten'
      ? ['flatten', layer, '-o', out]
      : cmd === 'flatten-tar'
        ? ['flatten', layer, '-o', `${out}.tar`]
        : cmd === 'pack'
          ? ['pack', upper, '-o', `${out}.tar`]
          : ['convert', layer, '--to', 'overlay', '-o', out];

describe('ENOSPC: a 1 MiB tmpfs', () => {
  for (const cmd of commands) {
    it(`${cmd}: exit 1, one line about space, no target, no temp dir`, { timeout: 60_000 }, async (ctx) => {
      if (cmd.startsWith('flatten')) skipUnless(ctx, flattenWhy(), 'ENOSPC flatten');
      const base = worldTemp('whiteout-enospc-');
      const mnt = path.join(base, 'mnt');
      try {
        skipUnless(ctx, mountTmpfs(mnt, 'size=1m'), `ENOSPC ${cmd}`);
        const layer = path.join(base, 'layer.tar');
        fs.writeFileSync(layer, BIG);
        const upper = makeUpper(base);
        const out = path.join(mnt, 'out');
        const r = await runCli(argsFor(cmd, layer, out, upper), { env: { TMPDIR: mnt } });
        expect(failureProblems(r), show(r)).toEqual([]);
        expect(r.stderr).toMatch(/no space/i);
        expect(fs.readdirSync(mnt), 'left on the full file system').toEqual([]);
      } finally {
        unmount(mnt);
        fs.rmSync(base, { recursive: true, force: true });
      }
    });
  }
});

describe('EROFS', () => {
  it('unpack, convert and flatten into a tmpfs remounted read-only: exit 1, one line, nothing left', async (ctx) => {
    const base = worldTemp('whiteout-erofs-');
    const mnt = path.join(base, 'mnt');
    try {
      skipUnless(ctx, mountTmpfs(mnt, 'size=8m'), 'EROFS tmpfs');
      skipUnless(ctx, remount(mnt, 'ro'), 'EROFS tmpfs');
      const layer = path.join(base, 'layer.tar');
      fs.writeFileSync(layer, BIG);
      for (const cmd of commands) {
        if (cmd.startsWith('flatten') && !flattenAvailable()) continue;
        const r = await runCli(argsFor(cmd, layer, path.join(mnt, 'out'), makeUpper(base)));
        expect(failureProblems(r), show(r)).toEqual([]);
        expect(r.stderr, show(r)).toMatch(/read-only/i);
        expect(fs.readdirSync(mnt)).toEqual([]);
      }
    } finally {
      unmount(mnt);
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('unpack into an existing empty dir on a read-only bind mount: refused, the dir left as it was', async (ctx) => {
    const base = worldTemp('whiteout-erofs-');
    const src = path.join(base, 'src');
    const dst = path.join(base, 'dst');
    fs.mkdirSync(path.join(src, 'empty-target'), { recursive: true });
    try {
      skipUnless(ctx, bindMount(src, dst), 'EROFS bind mount');
      const layer = path.join(base, 'layer.tar');
      fs.writeFileSync(layer, BIG);
      const r = await runCli(['unpack', layer, '-o', path.join(dst, 'empty-target')]);
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(r.stderr).toMatch(/read-only/i);
      expect(fs.readdirSync(dst)).toEqual(['empty-target']);
      expect(fs.readdirSync(path.join(dst, 'empty-target'))).toEqual([]);
    } finally {
      unmount(dst);
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('EACCES (as nobody)', () => {
  it('the target parent is not writable: exit 1, one line, nothing created', (ctx) => {
    skipUnless(ctx, nobodyAvailable(), 'EACCES');
    const base = worldTemp('whiteout-eacces-');
    try {
      const layer = path.join(base, 'layer.tar');
      fs.writeFileSync(layer, BIG);
      fs.chmodSync(layer, 0o644);
      const parent = path.join(base, 'root-owned');
      fs.mkdirSync(parent, { mode: 0o755 });
      for (const cmd of commands) {
        if (cmd.startsWith('flatten') && !flattenAvailable()) continue;
        const r = runAsNobody(argsFor(cmd, layer, path.join(parent, 'out'), makeUpper(base)), { TMPDIR: base });
        expect(failureProblems(r), show(r)).toEqual([]);
        expect(r.stderr).toMatch(/permission denied/i);
        expect(fs.readdirSync(parent)).toEqual([]);
      }
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });

  it('the layer is not readable: exit 1, one line naming it, nothing created', (ctx) => {
    skipUnless(ctx, nobodyAvailable(), 'EACCES');
    const base = worldTemp('whiteout-eacces-');
    try {
      const layer = path.join(base, 'secret-layer.tar');
      fs.writeFileSync(layer, BIG, { mode: 0o600 });
      const r = runAsNobody(['unpack', layer, '-o', path.join(base, 'out')], { TMPDIR: base });
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(r.stderr).toContain(layer);
      expect(r.stderr).toMatch(/permission denied/i);
      expect(fs.readdirSync(base)).toEqual(['secret-layer.tar']);
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
