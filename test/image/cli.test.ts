/**
 * The commands as a user runs them (the built CLI in dist/: `npm test` builds
 * first): machine output on stdout only, one-line errors, exit statuses, and
 * `unpack` still taking a single layer as before.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compareSnapshots, formatDifferences, snapshotDir, snapshotTar } from '../../src/conformance/index.js';
import { bytes } from '../rootfs/helpers.js';
import { fixtures, makeTar, rmrf, tempDir } from './helpers.js';

const bin = path.resolve(import.meta.dirname, '..', '..', 'bin', 'whiteout.js');
const built = fs.existsSync(path.resolve(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js'));
if (!built) console.warn('SKIPPED: CLI tests: dist/ is not built (run npx tsc -p tsconfig.json)');
const tmp = tempDir();
afterAll(() => rmrf(tmp));
const oci = path.join(fixtures, 'example', 'oci');

function run(args: string[], input?: Buffer): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync(process.execPath, [bin, ...args], { input, maxBuffer: 64 << 20 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

describe.runIf(built)('whiteout flatten / ls / unpack', () => {
  it('flatten -o - writes the rootfs tar to stdout and nothing to stderr when not a TTY', async () => {
    const r = run(['flatten', oci, '-o', '-']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const theirs = await snapshotTar(bytes(fs.readFileSync(path.join(fixtures, 'umoci', 'rootfs.tar'))));
    expect(formatDifferences(compareSnapshots(theirs, await snapshotTar(bytes(r.stdout)), ['umoci', 'flatten -o -']))).toBe('');
  });

  it('flatten reads an image from stdin', async () => {
    const r = run(['flatten', '-', '-o', '-', '-q'], fs.readFileSync(path.join(fixtures, 'example', 'docker-archive.tar')));
    expect(r.code).toBe(0);
    const theirs = await snapshotTar(bytes(fs.readFileSync(path.join(fixtures, 'umoci', 'rootfs.tar'))));
    expect(formatDifferences(compareSnapshots(theirs, await snapshotTar(bytes(r.stdout)), ['umoci', 'stdin']))).toBe('');
  });

  it('flatten -o x.tar --json, and a directory', () => {
    const tar = path.join(tmp, 'rootfs.tar');
    const r = run(['flatten', oci, '-o', tar, '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ output: tar, format: 'tar', layers: [0, 1, 2, 3, 4, 5] });
    const dir = path.join(tmp, 'rootfs');
    const d = run(['flatten', oci, '-o', dir, '--path', '/app/cache']);
    expect(d.code).toBe(0);
    expect(d.stdout.length).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'app', 'cache'))).toEqual(['fresh.txt']);
    expect(fs.readdirSync(dir)).toEqual(['app']);
    expect(run(['flatten', oci, '-o', dir]).code).toBe(1); // exists, no --force
  });

  it('ls: per-layer headers with history, whiteouts and opaque markers as such', () => {
    const r = run(['ls', oci]);
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    expect(text).toMatch(/^layer 3 {2}diffID sha256:5d2aba201a50[0-9a-f]+ {2}216 bytes application\/vnd.oci.image.layer.v1.tar\+gzip$/m);
    expect(text).toMatch(/^ {2}created_by: .*rm \/root\/.ssh\/id_rsa \/app\/.env/m);
    expect(text).toMatch(/^whiteout +\/app\/.env$/m);
    expect(text).toMatch(/^opaque +\/app\/cache\/$/m);
    expect(text).toMatch(/^hrwxr-xr-x 0:0 +0 {2}2023-11-14T22:13:20Z {2}\/app\/bin\/tool-hardlink link to \/app\/bin\/tool$/m);
  });

  it('ls --json is one document, with history mapped past the empty CMD step', () => {
    const r = run(['ls', oci, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout.toString()) as { format: string; layers: { index: number; history?: { created_by?: string }; entries: { path: string; type: string }[]; computedDiffID: string; diffID: string }[] };
    expect(doc.format).toBe('oci-layout');
    expect(doc.layers).toHaveLength(6);
    for (const l of doc.layers) expect(l.computedDiffID).toBe(l.diffID);
    expect(doc.layers[5]!.history?.created_by).toContain('rm /app/plain-delete.txt');
    expect(doc.layers[5]!.entries.filter((e) => e.type === 'whiteout').map((e) => e.path)).toEqual(['/app/data', '/app/plain-delete.txt']);
    expect(doc.layers[4]!.entries.filter((e) => e.type === 'opaque').map((e) => e.path)).toEqual(['/app/cache']);
  });

  it('unpack <image> prints the mount line on stdout; unpack <layer> is unchanged', async () => {
    const dir = path.join(tmp, 'stack');
    const r = run(['unpack', oci, '-o', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^mount -t overlay overlay -o 'lowerdir=[^']+' '[^']+\/merged'\n$/);
    expect(r.stderr).toMatch(/unpacked 6 layers into/);
    expect(fs.readFileSync(path.join(dir, 'mount.sh'), 'utf8')).toContain(r.stdout.toString().trim().replace(/ '[^']+\/merged'$/, ''));

    const layer = path.join(tmp, 'layer.tar');
    fs.writeFileSync(layer, await makeTar([{ name: 'etc/hosts', content: 'x' }, { name: 'etc/.wh.passwd' }]));
    const l = run(['unpack', layer, '-o', path.join(tmp, 'one'), '--whiteouts', 'aufs', '--json']);
    expect(l.code).toBe(0);
    expect(JSON.parse(l.stdout.toString())).toMatchObject({ whiteouts: 1, entries: 2 });
    expect(fs.readdirSync(path.join(tmp, 'one', 'etc')).sort()).toEqual(['.wh.passwd', 'hosts']);
    const s = run(['unpack', '-', '-o', path.join(tmp, 'stdin-layer'), '-q'], fs.readFileSync(layer));
    expect(s.code).toBe(0);
    expect(fs.readFileSync(path.join(tmp, 'stdin-layer', 'etc', 'hosts'), 'utf8')).toBe('x');
  });

  it('errors: one line, exit 1; usage errors exit 2', () => {
    const missing = run(['flatten', path.join(tmp, 'nope'), '-o', '-']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^whiteout: .*nope: no such file or directory\n$/);
    const lower = run(['unpack', oci, '-o', path.join(tmp, 'x'), '--lower', tmp]);
    expect(lower.code).toBe(2);
    expect(lower.stderr).toMatch(/^whiteout: --lower: applies to a single layer/);
    const platform = run(['flatten', oci, '-o', '-', '--platform', 'linux']);
    expect(platform.code).toBe(2);
    expect(platform.stderr.split('\n').filter((x) => x)).toHaveLength(1);
  });
});

describe.runIf(built)('unpack <layer> --diff-id / --no-digest', () => {
  it('--diff-id: the right one unpacks, a wrong one fails in one line and leaves no output; --no-digest unpacks the same tree without a diffID', async () => {
    const tar = await makeTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/hosts', content: 'x' }, { name: 'etc/hostname', content: 'box' }]);
    const layer = path.join(tmp, 'digest-layer.tar');
    fs.writeFileSync(layer, tar);
    const right = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const wrong = `sha256:${'0'.repeat(64)}`;

    const ok = run(['unpack', layer, '-o', path.join(tmp, 'd-ok'), '--diff-id', right, '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout.toString()).diffID).toBe(right);

    const bad = run(['unpack', layer, '-o', path.join(tmp, 'd-bad'), '--diff-id', wrong]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`whiteout: ${layer}: diffID mismatch: expected ${wrong}, got ${right}\n`);
    expect(fs.existsSync(path.join(tmp, 'd-bad'))).toBe(false);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('d-bad'))).toEqual([]);

    const none = run(['unpack', layer, '-o', path.join(tmp, 'd-none'), '--no-digest', '--json']);
    expect(none.code).toBe(0);
    const j = JSON.parse(none.stdout.toString());
    expect(j.diffID).toBeUndefined();
    expect(j.size).toBe(tar.length);
    const a = await snapshotDir(path.join(tmp, 'd-ok'));
    const b = await snapshotDir(path.join(tmp, 'd-none'));
    expect(formatDifferences(compareSnapshots(a, b, ['--diff-id', '--no-digest']))).toBe('');
  });

  it('usage errors: both at once, a malformed or non-sha256 digest, either with an image', () => {
    const layer = path.join(tmp, 'digest-layer.tar');
    const cases: [string[], RegExp][] = [
      [['--diff-id', `sha256:${'0'.repeat(64)}`, '--no-digest'], /^whiteout: --diff-id: needs the digest that --no-digest turns off\n$/],
      [['--diff-id', 'sha256:abc'], /^whiteout: --diff-id: malformed digest/],
      [['--diff-id', `sha512:${'0'.repeat(128)}`], /^whiteout: --diff-id: only a sha256 diffID can be checked\n$/],
    ];
    for (const [flags, msg] of cases) {
      const r = run(['unpack', layer, '-o', path.join(tmp, 'never'), ...flags]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(msg);
      expect(fs.existsSync(path.join(tmp, 'never'))).toBe(false);
    }
    for (const flag of [['--no-digest'], ['--diff-id', `sha256:${'0'.repeat(64)}`]]) {
      const r = run(['unpack', oci, '-o', path.join(tmp, 'never-img'), ...flag]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(new RegExp(`^whiteout: ${flag[0]}: applies to a single layer`));
    }
  });
});
