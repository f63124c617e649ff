/**
 * Which entries are hidden, why, and by which layer (SPEC.md §15.1), on small
 * stacks: through the library on entry streams, and through the CLI on layer
 * tars written by tar-stream (an independent encoder), passed bottom first.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type AuditResult, auditLayers } from '../../src/audit/audit.js';
import { builtinRules } from '../../src/audit/secret-rules.js';
import { SecretMatcher } from '../../src/audit/secret-scan.js';
import type { Entry } from '../../src/entry.js';
import { dir, file, hardlink, opaque, stream, symlink, whiteout } from '../helpers/entries.js';
import { makeTar, rmrf, tempDir } from '../image/helpers.js';
import { built, hiddenJson, run } from './helpers.js';

/** Entry factories, so a layer can be read twice (the second pass for same-layer replacements). */
type Layer = () => Entry[];

function audit(layers: Layer[], secrets = false): Promise<AuditResult> {
  return auditLayers(
    layers.map((l, index) => ({ index, what: `layer ${index}`, entries: () => stream(l()) })),
    secrets ? { secrets: new SecretMatcher(builtinRules) } : {},
  );
}

/** `layer:path:reason:hiddenBy` for each hidden entry, in report order. */
function summary(r: AuditResult): string[] {
  return r.hidden.map((h) => `${h.layer}:${h.path}:${h.reason}:${h.hiddenBy}`);
}

describe('hidden: the three causes', () => {
  it('whiteout: the path and everything below it; the nearest whiteout is the one reported', async () => {
    const r = await audit([
      () => [dir('a'), file('a/f', 'one'), dir('a/d'), file('a/d/g', 'two'), file('b', 'bee')],
      () => [whiteout('a/f')],
      () => [whiteout('a'), whiteout('b')],
    ]);
    expect(summary(r)).toEqual(['0:a:whiteout:2', '0:a/f:whiteout:1', '0:a/d:whiteout:2', '0:a/d/g:whiteout:2', '0:b:whiteout:2']);
    expect(r.wastedBytes).toBe(3 + 3 + 3);
  });

  it('opaque: everything below the directory, never the directory itself', async () => {
    const r = await audit([() => [dir('c'), file('c/old', 'old'), dir('c/sub'), file('c/sub/x', 'x')], () => [dir('c'), opaque('c'), file('c/new', 'new')]]);
    expect(summary(r)).toEqual(['0:c/old:opaque:1', '0:c/sub:opaque:1', '0:c/sub/x:opaque:1']);
  });

  it('overwritten: a later copy of the same type, a type change either way, an implied directory over a file', async () => {
    const r = await audit([
      () => [file('same', 'v1'), file('f2d', 'file'), dir('d2f'), file('d2f/in', 'in'), symlink('link', 'x'), file('imp', 'was a file')],
      () => [file('same', 'v2'), dir('f2d'), file('d2f', 'now a file'), file('link', 'now a file'), file('imp/below', 'x')],
    ]);
    expect(summary(r)).toEqual([
      '0:same:overwritten:1',
      '0:f2d:overwritten:1',
      '0:d2f:overwritten:1',
      '0:d2f/in:overwritten:1',
      '0:link:overwritten:1',
      '0:imp:overwritten:1',
    ]);
    expect(r.hidden.find((h) => h.path === 'link')).toMatchObject({ type: 'symlink', size: 0, target: 'x' });
  });

  it('a directory that is still a directory above is merged, not hidden', async () => {
    const r = await audit([() => [dir('etc', { mode: 0o700 }), file('etc/keep', 'k')], () => [dir('etc', { mode: 0o755 }), file('etc/new', 'n')], () => [file('etc/deeper/x', 'x')]]);
    expect(summary(r)).toEqual([]);
  });

  it("a layer's own whiteouts and opaque markers do not hide its own entries", async () => {
    const r = await audit([() => [dir('a'), file('a/low', 'l'), file('z', 'z')], () => [file('z', 'again'), whiteout('z'), opaque('a'), file('a/own', 'o'), whiteout('a/own')]]);
    expect(summary(r)).toEqual(['0:a/low:opaque:1', '0:z:whiteout:1']);
  });

  it('.wh.X and X/ in one layer: the old X and what was below it are hidden by the whiteout', async () => {
    const r = await audit([() => [dir('x'), file('x/old', 'o')], () => [whiteout('x'), dir('x'), file('x/new', 'n')]]);
    expect(summary(r)).toEqual(['0:x:whiteout:1', '0:x/old:whiteout:1']);
  });

  it('hidden, made again, hidden again: one item per copy, each with its own hider', async () => {
    const r = await audit([() => [file('s', 'one')], () => [whiteout('s')], () => [file('s', 'two!')], () => [file('s', 'three')], () => [whiteout('s')]]);
    expect(summary(r)).toEqual(['0:s:whiteout:1', '2:s:overwritten:3', '3:s:whiteout:4']);
    expect(r.hidden.map((h) => h.size)).toEqual([3, 4, 5]);
    expect(r.wastedBytes).toBe(12);
    expect(r.layers.map((l) => l.wastedBytes)).toEqual([3, 0, 4, 5, 0]);
  });

  it('a root opaque marker hides every lower entry', async () => {
    const r = await audit([() => [file('a', 'a'), dir('d'), file('d/b', 'b')], () => [opaque(''), file('c', 'c')]]);
    expect(summary(r)).toEqual(['0:a:opaque:1', '0:d:opaque:1', '0:d/b:opaque:1']);
  });
});

describe('hidden: within one layer, and hardlinks', () => {
  it('an earlier copy of a path in the same layer is overwritten by that layer (and scanned on a second read)', async () => {
    const token = 'ghp_' + 'A'.repeat(36);
    const r = await audit([() => [file('dup', `TOKEN=${token}\n`), file('dup', 'clean'), file('ok', 'ok')]], true);
    expect(summary(r)).toEqual(['0:dup:overwritten:0']);
    expect(r.hidden[0]?.secrets).toEqual([{ rule: 'github-token', match: 'content' }]);
  });

  it('the nearest hider wins: a same-layer replacement is nearer than a whiteout above', async () => {
    const r = await audit([() => [file('p', 'first'), file('p', 'second')], () => [whiteout('p')]]);
    expect(summary(r)).toEqual(['0:p:overwritten:0', '0:p:whiteout:1']);
  });

  it('a directory the same layer replaces by a file takes its contents with it (layer.md D2)', async () => {
    const r = await audit([() => [dir('d'), file('d/in', 'inside'), file('d', 'a file now')]]);
    expect(summary(r)).toEqual(['0:d:overwritten:0', '0:d/in:overwritten:0']);
  });

  it('hardlinks are reported with size 0; the bytes count once, at the target', async () => {
    const r = await audit([() => [file('t', '12345'), hardlink('l', 't')], () => [whiteout('t'), whiteout('l')]]);
    expect(r.hidden.map((h) => [h.path, h.type, h.size])).toEqual([
      ['t', 'file', 5],
      ['l', 'hardlink', 0],
    ]);
    expect(r.hidden[1]?.target).toBe('t');
    expect(r.wastedBytes).toBe(5);
  });

  it('a hidden file whose content a visible hardlink still shows is not wasted', async () => {
    const r = await audit([() => [file('t', '12345'), hardlink('l', 't')], () => [whiteout('t')]]);
    expect(r.hidden).toMatchObject([{ path: 't', visibleAs: 'l' }]);
    expect(r.wastedBytes).toBe(0);
  });

  it('a hidden hardlink shares what was found in its hidden target', async () => {
    const r = await audit([() => [file('root/.ssh/id_ed25519', '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n'), hardlink('backup', 'root/.ssh/id_ed25519')], () => [whiteout('root'), whiteout('backup')]], true);
    const link = r.hidden.find((h) => h.path === 'backup');
    expect(link?.secrets).toEqual([{ rule: 'private-key', match: 'content' }]);
  });
});

const tmp = tempDir('whiteout-reasons-');
afterAll(() => rmrf(tmp));

async function layerFile(name: string, files: Parameters<typeof makeTar>[0]): Promise<string> {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, await makeTar(files));
  return p;
}

describe.runIf(built)('hidden on layer tars (CLI)', () => {
  it('all three causes, each with its layer, size and type, through the JSON', async () => {
    const creds = '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n';
    const l0 = await layerFile('l0.tar', [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/app.conf', content: 'v1\n' },
      { name: 'srv/', type: 'directory' },
      { name: 'srv/cache/', type: 'directory' },
      { name: 'srv/cache/blob', content: 'x'.repeat(1000) },
      { name: 'root/.aws/credentials', content: creds },
    ]);
    const l1 = await layerFile('l1.tar', [
      { name: 'etc/app.conf', content: 'v2 longer\n' }, // overwritten, same type
      { name: 'srv/cache/', type: 'directory' },
      { name: 'srv/cache/.wh..wh..opq' }, // opaque
      { name: 'root/.aws/.wh.credentials' }, // whiteout
    ]);
    const doc = hiddenJson([l0, l1]);
    const items = doc.hidden.map((h) => ({ path: h.path, layer: h.layer, type: h.type, size: h.size, reason: h.reason, hiddenBy: h.hiddenBy }));
    expect(items).toEqual([
      { path: '/etc/app.conf', layer: 0, type: 'file', size: 3, reason: 'overwritten', hiddenBy: 1 },
      { path: '/srv/cache/blob', layer: 0, type: 'file', size: 1000, reason: 'opaque', hiddenBy: 1 },
      { path: '/root/.aws/credentials', layer: 0, type: 'file', size: creds.length, reason: 'whiteout', hiddenBy: 1 },
    ]);
    expect(doc.hidden[2]?.secrets).toEqual([
      { rule: 'aws-credentials', match: 'name' },
      { rule: 'aws-access-key-id', match: 'content' },
    ]);
    const wasted = 3 + 1000 + creds.length;
    expect(doc.wastedBytes).toBe(wasted);
    expect(doc.layers.map((l) => [l.index, l.hidden, l.wastedBytes, l.bytes])).toEqual([
      [0, 3, wasted, wasted],
      [1, 0, 0, 'v2 longer\n'.length],
    ]);
    expect(doc.layers[0]?.efficiency).toBe(0);
    expect(doc.efficiency).toBeCloseTo(10 / (wasted + 10), 4);
  });

  it('recover a directory whose hardlinks point inside and outside it: inside stays a link, outside becomes the content', async () => {
    const l0 = await layerFile('h0.tar', [
      { name: 'data/', type: 'directory' },
      { name: 'outside.bin', content: 'OUTSIDE-BYTES' },
      { name: 'data/a', content: 'AAAA' },
      { name: 'data/a-link', type: 'link', linkname: 'data/a' },
      { name: 'data/out-link', type: 'link', linkname: 'outside.bin' },
    ]);
    const l1 = await layerFile('h1.tar', [{ name: '.wh.data' }]);
    const out = path.join(tmp, 'data.tar');
    const r = run(['recover', l0, l1, '/data', '-o', out]);
    expect([r.code, r.stderr]).toEqual([0, `recovered /data (directory, as a tar) from layer 0, hidden by layer 1 (whiteout) into ${out}\n`]);
    const x = path.join(tmp, 'data-x');
    fs.mkdirSync(x);
    const listing = execFileSync('tar', ['-tvf', out]).toString();
    expect(listing).toMatch(/^h.* data\/a-link link to data\/a$/m);
    expect(listing).toMatch(/^-.* 13 .* data\/out-link$/m);
    execFileSync('tar', ['-xf', out, '-C', x]);
    expect(fs.readFileSync(path.join(x, 'data/out-link'), 'utf8')).toBe('OUTSIDE-BYTES');
    expect(fs.statSync(path.join(x, 'data/a')).ino).toBe(fs.statSync(path.join(x, 'data/a-link')).ino);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
  });
});
