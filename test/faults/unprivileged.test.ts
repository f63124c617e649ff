/**
 * Without privilege. As nobody (setpriv): the default form needs trusted.*
 * xattrs for opaque dirs, so it must fail and name the flag that helps — and
 * the flag it names must really help (we run it). Since Linux 5.8 anyone may
 * mknod a 0/0 whiteout, so plain whiteouts in the device form may work.
 * In a user namespace (unshare -rm, as nobody): the unprivileged forms must
 * produce layers the kernel mounts with `-o userxattr`, and the merged view
 * must be what the layers say.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { failureProblems, show, successProblems } from '../helpers/hostile-cli.js';
import { readTree } from '../helpers/hostile-fs.js';
import { inUserNamespace, nobodyAvailable, runAsNobody, skipUnless, worldTemp } from '../helpers/hostile-priv.js';
import * as T from '../helpers/hostile-tar.js';

/** The flag sets an error message suggests, as argument lists. */
function suggested(stderr: string): string[][] {
  const out: string[][] = [];
  if (/--userxattr/.test(stderr)) out.push(['--userxattr']);
  if (/--whiteouts aufs/.test(stderr)) out.push(['--whiteouts', 'aufs']);
  if (/--whiteouts xattr/.test(stderr)) out.push(['--whiteouts', 'xattr', '--userxattr']);
  return out;
}

const OPAQUE = T.tar(T.dir('d'), T.file('d/.wh..wh..opq'), T.file('d/f', 'f'));
const WHITEOUT = T.tar(T.file('a', 'a'), T.file('.wh.b'));
const TRUSTED_DATA = T.tar(T.pax([['SCHILY.xattr.trusted.md5', 'abc']]), T.file('f', 'f'));
const DEVICE = T.tar(T.chardev('null', 1, 3));

describe('as nobody', () => {
  const ok = nobodyAvailable();

  type Ctx = { skip: (note?: string) => never };
  function withBase<R>(ctx: Ctx, fn: (base: string, layer: (name: string, data: Buffer) => string) => R): R {
    skipUnless(ctx, ok, 'unprivileged run');
    const base = worldTemp('whiteout-unpriv-');
    try {
      return fn(base, (name, data) => {
        const p = path.join(base, name);
        fs.writeFileSync(p, data, { mode: 0o644 });
        return p;
      });
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  }

  it('default form + an opaque dir: fails, names a flag, and that flag works', (ctx) => {
    withBase(ctx, (base, layer) => {
      const l = layer('opaque.tar', OPAQUE);
      const r = runAsNobody(['unpack', l, '-o', path.join(base, 'out')], { TMPDIR: base });
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(r.stderr).toMatch(/trusted\.overlay\.opaque/);
      const hints = suggested(r.stderr);
      expect(hints.length, `no flag named: ${r.stderr}`).toBeGreaterThan(0);
      expect(fs.readdirSync(base).sort()).toEqual(['opaque.tar']);
      for (const [i, h] of hints.entries()) {
        const out = path.join(base, `out${i}`);
        const again = runAsNobody(['unpack', l, '-o', out, ...h], { TMPDIR: base });
        expect(successProblems(again), show(again)).toEqual([]);
        const t = readTree(out);
        const opaque = t.get('d')?.xattrs.get('user.overlay.opaque')?.toString() === 'y' || t.has('d/.wh..wh..opq');
        expect(opaque, `${h.join(' ')}: d is not opaque`).toBe(true);
      }
    });
  });

  it('default form + whiteouts only: 0/0 mknod is allowed since Linux 5.8, so it works or names a flag that does', (ctx) => {
    withBase(ctx, (base, layer) => {
      const l = layer('wh.tar', WHITEOUT);
      const out = path.join(base, 'out');
      const r = runAsNobody(['unpack', l, '-o', out], { TMPDIR: base });
      if (r.code === 0) {
        const b = readTree(out).get('b');
        expect(b?.type === 'char' && b.major === 0 && b.minor === 0, 'b is a 0/0 device').toBe(true);
        return;
      }
      expect(failureProblems(r), show(r)).toEqual([]);
      const hints = suggested(r.stderr);
      expect(hints.length, r.stderr).toBeGreaterThan(0);
      const again = runAsNobody(['unpack', l, '-o', out, ...hints[0]!], { TMPDIR: base });
      expect(successProblems(again), show(again)).toEqual([]);
    });
  });

  it('--whiteouts xattr --userxattr stores whiteouts without privilege', (ctx) => {
    withBase(ctx, (base, layer) => {
      const l = layer('wh.tar', WHITEOUT);
      const out = path.join(base, 'out');
      const r = runAsNobody(['unpack', l, '-o', out, '--whiteouts', 'xattr', '--userxattr'], { TMPDIR: base });
      expect(successProblems(r), show(r)).toEqual([]);
      expect(readTree(out).get('b')?.xattrs.has('user.overlay.whiteout')).toBe(true);
    });
  });

  it('--whiteouts aufs stores whiteouts and opaque dirs without privilege', (ctx) => {
    withBase(ctx, (base, layer) => {
      const l = layer('both.tar', Buffer.concat([OPAQUE.subarray(0, OPAQUE.length - 1024), WHITEOUT]));
      const out = path.join(base, 'out');
      const r = runAsNobody(['unpack', l, '-o', out, '--whiteouts', 'aufs'], { TMPDIR: base });
      expect(successProblems(r), show(r)).toEqual([]);
      expect(fs.readdirSync(out).sort()).toEqual(['.wh.b', 'a', 'd']);
    });
  });

  it('a read-only file carrying a user.* xattr unpacks without privilege (xattr set before the mode drops write)', (ctx) => {
    withBase(ctx, (base, layer) => {
      const l = layer('ro.tar', T.tar(T.pax([['SCHILY.xattr.user.note', 'hi']]), T.file('ro', 'x', { mode: 0o444 })));
      for (const [i, flags] of [['--whiteouts', 'aufs'], ['--whiteouts', 'xattr', '--userxattr']].entries()) {
        const out = path.join(base, `out${i}`);
        const r = runAsNobody(['unpack', l, '-o', out, ...flags], { TMPDIR: base });
        expect(successProblems(r), show(r)).toEqual([]);
        const n = readTree(out).get('ro');
        expect(n?.mode).toBe(0o444);
        expect(n?.xattrs.get('user.note')?.toString()).toBe('hi');
      }
    });
  });

  it('a trusted.* data xattr: fails cleanly, and any flag it names must really help', (ctx) => {
    withBase(ctx, (base, layer) => {
      const l = layer('trusted.tar', TRUSTED_DATA);
      for (const flags of [[], ['--userxattr'], ['--whiteouts', 'aufs']]) {
        const r = runAsNobody(['unpack', l, '-o', path.join(base, 'out'), ...flags], { TMPDIR: base });
        expect(failureProblems(r), show(r)).toEqual([]);
        expect(r.stderr).toMatch(/trusted\.md5/);
        for (const h of suggested(r.stderr)) {
          const again = runAsNobody(['unpack', l, '-o', path.join(base, 'again'), ...h], { TMPDIR: base });
          expect(again.code, `the error suggested ${h.join(' ')}, which does not help:\n${show(r)}\n${show(again)}`).toBe(0);
          fs.rmSync(path.join(base, 'again'), { recursive: true, force: true });
        }
      }
    });
  });

  it('a real device node: fails cleanly (no flag can help)', (ctx) => {
    withBase(ctx, (base, layer) => {
      const l = layer('dev.tar', DEVICE);
      const r = runAsNobody(['unpack', l, '-o', path.join(base, 'out'), '--whiteouts', 'xattr', '--userxattr'], { TMPDIR: base });
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(fs.readdirSync(base).sort()).toEqual(['dev.tar']);
    });
  });
});

describe('in a user namespace, mounted with -o userxattr', () => {
  const L0 = T.tar(T.dir('a'), T.file('a/keep', 'k'), T.file('a/gone', 'g'), T.dir('b'), T.file('b/x', 'x'), T.dir('c'), T.file('c/old', 'o'), T.file('d', 'd'));
  const L1 = T.tar(T.file('a/.wh.gone'), T.file('.wh.b'), T.file('c/.wh..wh..opq'), T.file('c/new', 'n'), T.file('e/f', 'f'));
  const MERGED = ['.', './a', './a/keep', './c', './c/new', './d', './e', './e/f'];

  for (const form of ['xattr', 'device'] as const) {
    it(`--whiteouts ${form} --userxattr: the kernel shows what the layers say`, (ctx) => {
      const base = worldTemp('whiteout-userns-');
      try {
        fs.writeFileSync(path.join(base, 'l0.tar'), L0, { mode: 0o644 });
        fs.writeFileSync(path.join(base, 'l1.tar'), L1, { mode: 0o644 });
        const script = [
          `B=${base}`,
          `$WHITEOUT unpack $B/l0.tar -o $B/x0 --whiteouts ${form} --userxattr -q`,
          `$WHITEOUT unpack $B/l1.tar -o $B/x1 --whiteouts ${form} --userxattr --lower $B/x0 -q`,
          'mkdir $B/m',
          'mount -t overlay overlay -o lowerdir=$B/x1:$B/x0,userxattr $B/m',
          '(cd $B/m && find . | LC_ALL=C sort) > $B/listing',
          'umount $B/m',
        ].join('\n');
        const res = inUserNamespace(script);
        if ('reason' in res) skipUnless(ctx, { ok: false, reason: res.reason }, `user-namespace mount (${form})`);
        if ('reason' in res) return;
        if (!res.asNobody) console.warn('user-namespace test ran as root-in-a-namespace: nobody may not create user namespaces here');
        if (res.r.code !== 0 && /mount: .*(permission denied|not permitted|unknown filesystem)/i.test(res.r.stderr)) {
          skipUnless(ctx, { ok: false, reason: res.r.stderr.trim().split('\n').pop() ?? '' }, `user-namespace mount (${form})`);
        }
        expect(res.r.code, res.r.stderr).toBe(0);
        expect(fs.readFileSync(path.join(base, 'listing'), 'utf8').trim().split('\n')).toEqual(MERGED);
      } finally {
        fs.rmSync(base, { recursive: true, force: true });
      }
    });
  }
});
