/**
 * pack's directory scan on a thread (src/overlay/dir-scan.ts) against the scan
 * in line: the same layer byte for byte whoever lists which directory (the
 * thread from the start, the reader and the thread taking turns, a window of
 * a few entries that keeps the thread waiting), and the same error when a
 * directory or an entry cannot be read.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as fsx from 'fs-xattr';
import { afterAll, describe, expect, it } from 'vitest';
import { packLayer } from '../src/ops/pack.js';
import { readOverlayDirSync } from '../src/overlay/dir-read.js';
import { type ScanThreadOptions, ThreadScanner, scanInLine } from '../src/overlay/dir-scan.js';
import { concat, isRoot, tempDir } from './helpers/entries.js';
import { REPO } from './helpers/hostile-cli.js';
import { NOBODY, nobodyAvailable, skipUnless, unprivilegedRoot, worldTemp } from './helpers/hostile-priv.js';

const t = tempDir('whiteout-dir-scan-');
afterAll(() => t.cleanup());

/** A tree with every kind of entry the walk meets, in many directories. */
function makeTree(root: string): void {
  const mk = (p: string) => fs.mkdirSync(path.join(root, p), { recursive: true });
  const put = (p: string, data: string | Buffer) => fs.writeFileSync(path.join(root, p), data);
  for (let d = 0; d < 12; d++) {
    const dir = `d${d}/sub${d % 3}/deep`;
    mk(dir);
    for (let f = 0; f < 25; f++) put(`d${d}/f${f}`, crypto.randomBytes((d * 25 + f) * 13));
    put(`${dir}/leaf`, `leaf ${d}`);
  }
  put('d0/big', crypto.randomBytes(3_000_000));
  fs.chmodSync(path.join(root, 'd0/f1'), 0o4751);
  fs.utimesSync(path.join(root, 'd0/f2'), 1_234_567_890.123456, 1_234_567_890.987654);
  fs.linkSync(path.join(root, 'd1/f1'), path.join(root, 'd2/hard'));
  fs.symlinkSync('../d1/f1', path.join(root, 'd3/link'));
  fs.symlinkSync('/nowhere/\u00e9', path.join(root, 'd3/dangling-\u00e9'));
  // A name that is not UTF-8.
  fs.writeFileSync(Buffer.from(`${root}/d4/bad-\xff-name`, 'latin1'), 'bytes');
  fs.mkdirSync(Buffer.from(`${root}/d4/dir-\xfe`, 'latin1'));
  fs.writeFileSync(Buffer.from(`${root}/d4/dir-\xfe/inside`, 'latin1'), 'x');
  fsx.setAttributeSync(path.join(root, 'd5/f3'), 'user.note', Buffer.from('hello'));
  fsx.setAttributeSync(path.join(root, 'd5/f3'), 'user.bin', Buffer.from([0, 1, 2, 255]));
  spawnSync('mkfifo', [path.join(root, 'd6/fifo')]);
  if (isRoot) {
    fs.chownSync(path.join(root, 'd0/f3'), 1234, 5678);
    spawnSync('mknod', [path.join(root, 'd6/tty'), 'c', '5', '0']);
    spawnSync('mknod', [path.join(root, 'd6/disk'), 'b', '8', '1']);
    // Overlay markers: a whiteout device, an opaque directory, xattr whiteouts.
    spawnSync('mknod', [path.join(root, 'd7/gone'), 'c', '0', '0']);
    fsx.setAttributeSync(path.join(root, 'd8'), 'trusted.overlay.opaque', Buffer.from('y'));
    fsx.setAttributeSync(path.join(root, 'd9'), 'trusted.overlay.opaque', Buffer.from('x'));
    fs.writeFileSync(path.join(root, 'd9/xgone'), '');
    fsx.setAttributeSync(path.join(root, 'd9/xgone'), 'trusted.overlay.whiteout', Buffer.alloc(0));
    fsx.setAttributeSync(path.join(root, 'd9/f0'), 'security.capability', Buffer.from('0100000200200000000000000000000000000000', 'hex'));
  }
  // An empty directory, and one wide enough for several windows.
  mk('empty');
  mk('wide');
  for (let f = 0; f < 400; f++) put(`wide/n${String(f).padStart(3, '0')}`, '');
}

const tree = path.join(t.dir, 'upper');
makeTree(tree);

async function pack(scanThread: boolean | ScanThreadOptions): Promise<Buffer> {
  const warnings: string[] = [];
  const p = packLayer(tree, { scanThread, onWarning: (w) => warnings.push(w) });
  const bytes = await concat(p.stream);
  return Buffer.concat([bytes, Buffer.from(warnings.join('\n'))]);
}

describe('directory scan on a thread', () => {
  it('packs the same bytes as the scan in line, whoever lists each directory', async () => {
    const want = await pack(false);
    expect(want.length).toBeGreaterThan(3_000_000);
    const ways: ScanThreadOptions[] = [{ startAfter: 0 }, { startAfter: 7 }, { startAfter: 0, window: 3 }, { startAfter: 30, window: 1 }, {}];
    for (const way of ways) {
      const got = await pack(way);
      expect(got.equals(want), JSON.stringify(way)).toBe(true);
    }
  });

  it('gives every entry the same metadata, xattrs included', () => {
    const read = (scanThread: boolean | ScanThreadOptions) => {
      const out: string[] = [];
      for (const e of readOverlayDirSync(tree, { userxattr: false, aufs: false, what: 'upper', scanThread })) {
        const meta = 'meta' in e ? { ...e.meta, xattrs: [...e.meta.xattrs].map(([k, v]) => `${k}=${v.toString('hex')}`) } : undefined;
        out.push(JSON.stringify({ ...e, body: undefined, meta }));
        if (e.kind === 'file') e.body.close?.();
      }
      return out;
    };
    const inline = read(false);
    expect(inline.length).toBeGreaterThan(700);
    expect(read({ startAfter: 0, window: 2 })).toEqual(inline);
    expect(read({ startAfter: 5 })).toEqual(inline);
  });

  it('lists each directory as the scan in line does, some of them made by the thread', () => {
    for (const opts of [{ startAfter: 0 }, { startAfter: 0, window: 1 }, { startAfter: 40 }]) {
      const scanner = new ThreadScanner(Buffer.from(tree), 'upper', opts);
      let listings = 0;
      // The reader's order: depth first, names sorted, into every directory but a .wh. one.
      const visit = (dir: string) => {
        const real = Buffer.from(dir === '' ? tree : `${tree}/${dir}`, 'latin1');
        const got = scanner.list(dir, real);
        const want = scanInLine(real, 'upper', dir);
        // Give the thread time to start and get ahead after the first listings, so that
        // it lists some whatever the machine's load (the rest is a race, checked the same way).
        if (++listings <= 3) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        expect(got.map((c) => c.name)).toEqual(want.map((c) => c.name));
        got.forEach((c, k) => {
          const w = want[k]!;
          for (const f of ['mode', 'uid', 'gid', 'size', 'nlink', 'dev', 'ino', 'rdev', 'mtimeNs'] as const) expect(c.st[f], `${dir}/${c.name} ${f}`).toBe(w.st[f]);
          for (const m of ['isFile', 'isDirectory', 'isSymbolicLink', 'isCharacterDevice', 'isBlockDevice', 'isFIFO', 'isSocket'] as const) expect(c.st[m](), `${dir}/${c.name} ${m}`).toBe(w.st[m]());
          expect([...c.xattrs]).toEqual([...w.xattrs]);
        });
        for (const c of got) if (c.st.isDirectory() && !c.name.startsWith('.wh.')) visit(dir === '' ? c.name : `${dir}/${c.name}`);
      };
      visit('');
      scanner.close();
      expect(listings).toBeGreaterThan(30);
      // The thread made listings (this test would otherwise compare the scan in line with itself),
      // and never fell out of step with the walk (which the reader survives by listing in line).
      expect(scanner.listingsFromThread, JSON.stringify(opts)).toBeGreaterThan(0);
      expect(scanner.outOfStep).toBe(false);
    }
  });

  it('stops its thread when the walk is abandoned', () => {
    let n = 0;
    for (const e of readOverlayDirSync(tree, { userxattr: false, aufs: false, what: 'upper', scanThread: { startAfter: 0, window: 1 } })) {
      if (e.kind === 'file') e.body.close?.();
      if (++n === 50) break;
    }
    expect(n).toBe(50);
  });
});

describe('the threads under the process flags', () => {
  it('start under node --input-type=module, which would read their source as ESM', () => {
    // dist/, as a user's process loads it; the flag is inherited by a worker unless it is given its own.
    const script = `
      const { ThreadScanner } = await import(process.env.DIST + '/overlay/dir-scan.js');
      const { digestPassThrough } = await import(process.env.DIST + '/tar/digest.js');
      const d = digestPassThrough((async function* () { yield Buffer.alloc(1 << 20, 7); })(), { worker: true });
      for await (const c of d.stream) void c;
      const sc = new ThreadScanner(Buffer.from(process.argv[1]), 'upper', { startAfter: 0 });
      sc.list('', Buffer.from(process.argv[1]));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
      const kids = sc.list('d0', Buffer.from(process.argv[1] + '/d0'));
      sc.close();
      console.log(JSON.stringify({ digest: d.result().digest, kids: kids.length, fromThread: sc.listingsFromThread }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, tree], { env: { ...process.env, DIST: path.join(REPO, 'dist') } });
    expect(r.status, r.stderr.toString()).toBe(0);
    const got = JSON.parse(r.stdout.toString()) as { digest: string; kids: number; fromThread: number };
    expect(got.digest).toBe(`sha256:${crypto.createHash('sha256').update(Buffer.alloc(1 << 20, 7)).digest('hex')}`);
    expect(got.kids).toBe(fs.readdirSync(path.join(tree, 'd0')).length);
    expect(got.fromThread).toBe(1);
  });
});

describe('directory scan on a thread, errors (as nobody)', () => {
  it('fails as the scan in line does, on a directory it may not read and on an entry it may not stat', (ctx) => {
    skipUnless(ctx, nobodyAvailable(), 'scan errors as nobody');
    const base = worldTemp('whiteout-dir-scan-');
    try {
      const cases: Record<string, (root: string) => void> = {
        // readdir fails: EACCES.
        unreadable: (root) => {
          fs.mkdirSync(path.join(root, 'a'), { recursive: true });
          fs.mkdirSync(path.join(root, 'z'), { mode: 0o700 });
        },
        // readdir works (r), lstat of a child does not (no x): EACCES from lstat.
        unsearchable: (root) => {
          fs.mkdirSync(path.join(root, 'm'), { recursive: true });
          fs.writeFileSync(path.join(root, 'm/f'), 'x');
          fs.chmodSync(path.join(root, 'm'), 0o744);
        },
      };
      const script = `
        const { readOverlayDirSync } = await import(process.env.WHITEOUT_ROOT + '/dist/overlay/dir-read.js');
        const out = {};
        for (const [name, scanThread] of [['inline', false], ['thread', { startAfter: 0 }], ['late', { startAfter: 1 }]]) {
          try {
            let first = true;
            for (const e of readOverlayDirSync(process.argv[1], { userxattr: false, aufs: false, what: 'upper', scanThread })) {
              if (e.kind === 'file') e.body.close();
              // After the first entry, before the directory that fails is listed: the thread starts and
              // claims the rest, so the failure is met on the thread, not in line.
              if (first) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
              first = false;
            }
            out[name] = 'no error';
          } catch (e) {
            out[name] = { message: e.message, code: e.code, what: e.what, why: e.why, syscall: e.syscall, path: e.path === undefined ? undefined : String(e.path) };
          }
        }
        console.log(JSON.stringify(out));`;
      for (const [name, make] of Object.entries(cases)) {
        const root = path.join(base, name);
        fs.mkdirSync(root, { mode: 0o755 });
        for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(root, `top${i}`), 'x');
        make(root);
        const r = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, '--input-type=module', '-e', script, root], {
          cwd: '/',
          env: { ...process.env, WHITEOUT_ROOT: unprivilegedRoot() },
        });
        expect(r.status, r.stderr.toString()).toBe(0);
        const got = JSON.parse(r.stdout.toString()) as Record<string, { message: string; code?: string }>;
        expect(got["inline"], name).not.toBe('no error');
        expect(got['inline']?.message).toMatch(/EACCES|permission denied/i);
        expect(got['thread'], name).toEqual(got['inline']);
        expect(got['late'], name).toEqual(got['inline']);
      }
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  });
});
