/**
 * `whiteout check` as a user runs it (bin/whiteout.js, so dist/ must be
 * built): exit 3 on an error, 0 when clean, --strict, --json, one-line
 * failures; and overlay directories, built here with mknod and xattrs.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as fsx from 'fs-xattr';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/hostile-cli.js';
import { dir, file, tar } from '../helpers/hostile-tar.js';
import { isRoot } from '../helpers/entries.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-check-cli-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function layer(name: string, t: Buffer): string {
  const p = path.join(work, name);
  fs.writeFileSync(p, t);
  return p;
}

interface Json {
  target: string;
  layers: { index: number; computedDiffID?: string }[];
  findings: { rule: string; severity: string; entry?: string; layer?: number; offset?: number; spec: string; message: string }[];
  errors: number;
  warnings: number;
}

describe('whiteout check (CLI)', () => {
  it('a clean layer: exit 0 and a summary line', async () => {
    const r = await runCli(['check', layer('clean.tar', tar(dir('etc/'), file('etc/.wh.x'), file('etc/a', 'x')))]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(/no findings\n0 errors, 0 warnings, 0 info\n$/);
    expect(r.stderr).toBe('');
  });

  it('an error: exit 3, the finding on one line with its rule, entry, offset and SPEC section', async () => {
    const r = await runCli(['check', layer('bad.tar', tar(file('a'), file('a/../../b'), file('.wh.etc/x')))]);
    expect(r.code).toBe(3);
    const out = r.stdout.toString();
    expect(out).toMatch(/^ {2}error {3}dotdot-name +\/a\/\.\.\/\.\.\/b @512: .*\[SPEC\.md §2\]$/m);
    expect(out).toMatch(/^ {2}error {3}whiteout-dir-component +\/\.wh\.etc\/x @1024: .*\[SPEC\.md §3\]$/m);
    expect(out).toMatch(/2 errors, 0 warnings, 0 info\n$/);
  });

  it('warnings alone exit 0; --strict makes them fail (exit 3)', async () => {
    const l = layer('warn.tar', tar(file('b'), file('.wh.a')));
    expect((await runCli(['check', l])).code).toBe(0);
    const strict = await runCli(['check', l, '--strict']);
    expect(strict.code).toBe(3);
    expect(strict.stdout.toString()).toMatch(/warning whiteout-order/);
  });

  it('--json: one document with the layers, the findings and the counts', async () => {
    const r = await runCli(['check', layer('j.tar', tar(file('x'), file('x'))), '--json']);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout.toString()) as Json;
    expect(j).toMatchObject({ target: 'layers', errors: 1, warnings: 0 });
    expect(j.layers[0]!.computedDiffID).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(j.findings).toEqual([
      { severity: 'error', rule: 'duplicate-entry', spec: 'SPEC.md §6', layer: 0, entry: '/x', offset: 512, message: expect.stringMatching(/first is at offset 0/) as unknown as string },
    ]);
  });

  it('a missing input: exit 1, one line', async () => {
    const r = await runCli(['check', path.join(work, 'nope.tar')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^whiteout: .*nope\.tar: no such file or directory\n$/);
  });

  it('corrupt gzip: a finding (bad-tar), exit 3', async () => {
    const gz = execFileSync('gzip', ['-c'], { input: tar(file('a', 'x'.repeat(5000))) });
    gz[gz.length - 20] ^= 0xff;
    gz[40] ^= 0xff;
    const r = await runCli(['check', layer('broken.tar.gz', gz), '--json']);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout.toString()) as Json;
    expect(j.findings.map((f) => f.rule)).toEqual(['bad-tar']);
  });
});

describe.skipIf(!isRoot)('whiteout check of an overlay directory (root: mknod, trusted.* xattrs)', () => {
  const set = (p: string, name: string, value: string) => fsx.setAttributeSync(p, name, Buffer.from(value));

  it('a clean upper dir: exit 0', async () => {
    const d = path.join(work, 'clean-upper');
    fs.mkdirSync(path.join(d, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(d, 'etc/passwd'), 'x');
    execFileSync('mknod', [path.join(d, 'etc/gone'), 'c', '0', '0']);
    set(path.join(d, 'etc'), 'trusted.overlay.overlay.opaque', 'y'); // escaped: image data
    const r = await runCli(['check', d]);
    expect(r.code, r.stdout.toString()).toBe(0);
    expect(r.stdout.toString()).toMatch(/\(overlay directory\)\n0 errors, 0 warnings, 0 info\n$/);
  });

  it('finds every overlay-dir rule', async () => {
    const d = path.join(work, 'upper');
    fs.mkdirSync(d);
    const p = (x: string) => path.join(d, x);
    fs.mkdirSync(p('opq'));
    set(p('opq'), 'trusted.overlay.opaque', 'y');
    execFileSync('mknod', [p('opq/w'), 'c', '0', '0']);
    fs.mkdirSync(p('moved'));
    set(p('moved'), 'trusted.overlay.redirect', '/old');
    fs.writeFileSync(p('meta'), '');
    set(p('meta'), 'trusted.overlay.metacopy', '');
    set(p('meta'), 'trusted.overlay.origin', 'fh');
    fs.writeFileSync(p('.wh.real'), '');
    execFileSync('mknod', [p('null'), 'c', '1', '3']);
    fs.writeFileSync(p('xw'), '');
    set(p('xw'), 'trusted.overlay.whiteout', '');
    fs.mkdirSync(p('rootless'));
    set(p('rootless'), 'user.overlay.opaque', 'y');
    const r = await runCli(['check', d, '--json']);
    expect(r.code).toBe(3);
    const j = JSON.parse(r.stdout.toString()) as Json;
    expect(j.target).toBe('overlay-dir');
    const got = j.findings.map((f) => `${f.severity} ${f.rule} ${f.entry}`).sort();
    expect(got).toEqual(
      [
        'error whiteout-name-on-disk /.wh.real',
        'error overlay-metacopy /meta',
        'warning kernel-xattr /meta',
        'error overlay-redirect /moved',
        'warning char-device /null',
        'warning whiteout-in-opaque /opq/w',
        'error mixed-namespaces /rootless',
        'warning xwhiteout-unmarked /xw',
      ].sort(),
    );
    // In the AUFS form, .wh. files are whiteouts, not findings.
    const aufs = await runCli(['check', d, '--whiteouts', 'aufs', '--json']);
    expect((JSON.parse(aufs.stdout.toString()) as Json).findings.map((f) => f.rule)).not.toContain('whiteout-name-on-disk');
  });
});

if (!isRoot) console.warn('test/check/cli.test.ts: not root, so the overlay-directory checks (mknod, trusted.* xattrs) are skipped');
