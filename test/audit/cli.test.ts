/** `whiteout hidden` and `whiteout recover` as a user runs them: the JSON shape, the table, policies, errors, output files. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failedPolicies, parsePolicies } from '../../src/audit/policy.js';
import { parseSize } from '../../src/audit/size.js';
import type { AuditResult } from '../../src/audit/audit.js';
import { rmrf, tempDir } from '../image/helpers.js';
import { built, exampleDocker, exampleOci, run } from './helpers.js';

const tmp = tempDir('whiteout-audit-cli-');
afterAll(() => rmrf(tmp));

describe('sizes and policies', () => {
  it('parses sizes: SI units are powers of 1000, IEC of 1024', () => {
    expect(parseSize('0', 'x')).toBe(0);
    expect(parseSize('512', 'x')).toBe(512);
    expect(parseSize('512B', 'x')).toBe(512);
    expect(parseSize('10MB', 'x')).toBe(10_000_000);
    expect(parseSize('10mb', 'x')).toBe(10_000_000);
    expect(parseSize('1KiB', 'x')).toBe(1024);
    expect(parseSize('1.5GiB', 'x')).toBe(1.5 * 1024 ** 3);
    expect(parseSize('2k', 'x')).toBe(2000);
    expect(() => parseSize('ten', '--fail-on')).toThrow(/^--fail-on: 'ten' is not a size/);
    expect(() => parseSize('5XB', '--fail-on')).toThrow(/is not a size/);
    expect(() => parseSize('-1', '--fail-on')).toThrow(/is not a size/);
  });

  it('parses --fail-on lists and says which policy fails', () => {
    expect(parsePolicies(['secrets,hidden', 'wasted:1KiB'])).toEqual([{ kind: 'secrets' }, { kind: 'hidden' }, { kind: 'wasted', max: 1024, text: '1KiB' }]);
    expect(() => parsePolicies(['secret'])).toThrow("unknown policy 'secret'");
    const r: AuditResult = {
      layers: [],
      hidden: [{ path: 'a', layer: 0, type: 'file', size: 2000, mode: 0o644, reason: 'whiteout', hiddenBy: 1, secrets: [], seq: 0 }],
      wastedBytes: 2000,
      totalBytes: 2000,
      presence: [],
    };
    expect(failedPolicies(r, parsePolicies(['wasted:2000']))).toEqual([]);
    expect(failedPolicies(r, parsePolicies(['wasted:1999', 'secrets', 'hidden'])).map((f) => f.what)).toEqual(['--fail-on wasted:1999', '--fail-on hidden']);
  });
});

describe.runIf(built)('whiteout hidden', () => {
  it('--json is one document: image, layers, hidden, wastedBytes', () => {
    const r = run(['hidden', exampleOci, '--json']);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const doc = JSON.parse(r.stdout.toString()) as Record<string, unknown> & { layers: Record<string, unknown>[]; hidden: Record<string, unknown>[] };
    expect(Object.keys(doc)).toEqual(['image', 'format', 'ref', 'platform', 'manifest', 'layers', 'hidden', 'wastedBytes', 'totalBytes', 'efficiency', 'secrets']);
    expect(doc).toMatchObject({ image: exampleOci, format: 'oci-layout', ref: 'latest' });
    expect(doc.layers).toHaveLength(6);
    expect(Object.keys(doc.layers[0] as object)).toEqual(['index', 'diffID', 'digest', 'createdBy', 'entries', 'whiteouts', 'opaque', 'bytes', 'hidden', 'wastedBytes', 'efficiency']);
    const key = doc.hidden.find((h) => h.path === '/root/.ssh/id_rsa');
    expect(key).toEqual({
      path: '/root/.ssh/id_rsa',
      layer: 1,
      diffID: 'sha256:bdd3cd5e0f8ec5b8eb33af2cf1cac0109f21146fd8687cc161684252f8f2dd71',
      type: 'file',
      size: 221,
      mode: 0o600,
      reason: 'whiteout',
      hiddenBy: 3,
      createdBy: expect.stringContaining('COPY dir:') as unknown,
      secrets: [
        { rule: 'ssh-private-key', match: 'name' },
        { rule: 'private-key', match: 'content' },
      ],
    });
    const files = doc.hidden.filter((h) => h.type === 'file');
    expect(doc.wastedBytes).toBe(files.reduce((n, h) => n + (h.size as number), 0));
  });

  it('the table: grouped by layer, readable sizes, secrets marked, a per-layer summary with efficiency', () => {
    const r = run(['hidden', exampleOci]);
    expect([r.code, r.stderr]).toEqual([0, '']);
    const t = r.stdout.toString();
    expect(t).toMatch(/^layer 1 {2}sha256:bdd3cd5e0f8e… {2}COPY dir:/m);
    expect(t).toMatch(/^ {2}layer 3 {4}whiteout {5}file {10}221 B {2}\/root\/.ssh\/id_rsa$/m);
    expect(t).toMatch(/^ {47}SECRET: ssh-private-key \(name\), private-key \(content\)$/m);
    expect(t).toMatch(/^ {2}layer 4 {4}opaque {7}dir {15}- {2}\/app\/cache\/sub\/$/m);
    expect(t).toMatch(/^LAYER +ENTRIES +SIZE +HIDDEN +WASTED +EFFICIENCY +CREATED BY$/m);
    expect(t).toMatch(/^1 +5 +291 B +2 +291 B +0\.0% +COPY dir:/m);
    expect(t).toMatch(/^total +\d+ +\d+ B +13 +446 B +\d+\.\d%$/m);
    expect(t).toMatch(/446 B \(446 bytes\) wasted in 10 hidden files \(13 hidden entries in all\); 2 look like secrets\n$/);
  });

  it('--fail-on wasted:<size> and hidden; several policies fail together', () => {
    expect(run(['hidden', exampleOci, '--fail-on', 'wasted:446B', '-q']).code).toBe(0);
    expect(run(['hidden', exampleOci, '--fail-on', 'wasted:1KiB', '-q']).code).toBe(0);
    const r = run(['hidden', exampleOci, '--fail-on', 'wasted:445,hidden', '--json']);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout.toString())).toHaveProperty('wastedBytes', 446); // the report still comes out
    expect(r.stderr.split('\n')).toEqual([
      'whiteout: --fail-on wasted:445: 446 B (446 bytes) of hidden files, more than 445 bytes',
      expect.stringMatching(/^whiteout: --fail-on hidden: 13 hidden entries \(\/app\/bin\/tool, \/app\/cache\/c1.txt, \/app\/cache\/sub, …\)$/) as unknown,
      '',
    ]);
  });

  it('reads an image from standard input', () => {
    const r = run(['hidden', '-', '--json', '-q'], { input: fs.readFileSync(exampleDocker) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toHaveProperty('secrets', 2);
  });

  it('--scan-bytes 0 flags by name only; --rules adds a rule', () => {
    const r = run(['hidden', exampleOci, '--json', '--scan-bytes', '0']);
    const doc = JSON.parse(r.stdout.toString()) as { hidden: { path: string; secrets: { rule: string }[] }[] };
    expect(doc.hidden.find((h) => h.path === '/app/.env')?.secrets.map((s) => s.rule)).toEqual(['dotenv']);
    const rules = path.join(tmp, 'rules.json');
    fs.writeFileSync(rules, JSON.stringify({ rules: [{ id: 'fixture-env', content: '^APP_ENV=fixture$' }, { id: 'cache', paths: ['/app/cache/**'] }], disable: ['dotenv'] }));
    const withRules = JSON.parse(run(['hidden', exampleOci, '--json', '--rules', rules]).stdout.toString()) as typeof doc;
    expect(withRules.hidden.find((h) => h.path === '/app/.env')?.secrets.map((s) => s.rule)).toEqual(['github-token', 'fixture-env']);
    expect(withRules.hidden.find((h) => h.path === '/app/cache/c1.txt')?.secrets.map((s) => s.rule)).toEqual(['cache']);
  });

  it('errors are one line: bad policy, bad size, bad rules file, missing input', () => {
    const cases: [string[], number, RegExp][] = [
      [['hidden', exampleOci, '--fail-on', 'everything'], 2, /^whiteout: --fail-on: unknown policy 'everything'/],
      [['hidden', exampleOci, '--scan-bytes', 'lots'], 2, /^whiteout: --scan-bytes: 'lots' is not a size/],
      [['hidden', exampleOci, '--rules', path.join(tmp, 'nope.json')], 1, /^whiteout: .*nope.json: no such file\n$/],
      [['hidden', path.join(tmp, 'missing.tar')], 1, /^whiteout: .*missing.tar: /],
    ];
    for (const [args, code, line] of cases) {
      const r = run(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr).toMatch(line);
      expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });
});

describe.runIf(built)('whiteout recover', () => {
  it('a path no layer has: exit 1; --layer without it: the layers that have it', () => {
    const none = run(['recover', exampleOci, '/no/such/file']);
    expect([none.code, none.stderr]).toEqual([1, `whiteout: /no/such/file: no layer of ${exampleOci} has this path\n`]);
    const wrong = run(['recover', exampleOci, '/app/bin/tool', '--layer', '1']);
    expect([wrong.code, wrong.stderr]).toEqual([1, 'whiteout: --layer 1: layer 1 does not have /app/bin/tool; layers that do: 0 (file, hidden by layer 2), 2 (file)\n']);
    expect(run(['recover', exampleOci, '/app/bin/tool', '--layer', '9']).stderr).toBe('whiteout: --layer: layer 9 does not exist (the image has layers 0..5)\n');
    expect(run(['recover', exampleOci, 'app/bin/tool']).stderr).toBe("whiteout: app/bin/tool: is not an absolute path in the image (it must start with /)\n");
    expect(run(['recover', exampleOci]).code).toBe(2);
    const link = run(['recover', exampleOci, '/app/bin/tool-symlink']);
    expect([link.code, link.stderr]).toEqual([1, 'whiteout: /app/bin/tool-symlink: is a symlink in layer 2: it has no content to recover (recover what it points to)\n']);
  });

  it('a visible path too; a hardlink gives its content; the default copy is the topmost hidden one', () => {
    const tool0 = run(['recover', exampleOci, '/app/bin/tool']); // layer 0's copy is hidden (copied up in 2)
    const tool2 = run(['recover', exampleOci, '/app/bin/tool', '--layer', '2']);
    expect(tool0.code).toBe(0);
    expect(tool0.stdout.equals(tool2.stdout)).toBe(true); // same bytes, copied up
    const linked = run(['recover', exampleOci, '/app/bin/new-hardlink']);
    expect([linked.code, linked.stdout.toString()]).toEqual([0, 'new\n']);
  });

  it('/ is the whole merged tree at that layer: the same entries as flatten --layers ..N', () => {
    const names = (b: Buffer) => execFileSync('tar', ['-t'], { input: b }).toString().split('\n').sort();
    const rec = run(['recover', exampleOci, '/', '--layer', '3']);
    const flat = run(['flatten', exampleOci, '--layers', '..3', '-o', '-']);
    expect([rec.code, flat.code]).toEqual([0, 0]);
    expect(names(rec.stdout)).toEqual(names(flat.stdout));
  });

  it('-o: atomic, refuses an existing file without --force, 0600', () => {
    const out = path.join(tmp, 'id_rsa');
    const first = run(['recover', exampleOci, '/root/.ssh/id_rsa', '-o', out]);
    expect([first.code, first.stderr]).toEqual([0, `recovered /root/.ssh/id_rsa (file) from layer 1, hidden by layer 3 (whiteout) into ${out}\n`]);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    fs.writeFileSync(out, 'keep me');
    const again = run(['recover', exampleOci, '/root/.ssh/id_rsa', '-o', out]);
    expect([again.code, again.stderr]).toEqual([1, `whiteout: ${out}: exists (use --force to replace it)\n`]);
    expect(fs.readFileSync(out, 'utf8')).toBe('keep me');
    expect(run(['recover', exampleOci, '/root/.ssh/id_rsa', '-o', out, '--force', '-q']).code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    // A failure leaves no file and no temp file behind.
    const bad = path.join(tmp, 'never');
    expect(run(['recover', exampleOci, '/app/bin/tool-symlink', '-o', bad]).code).toBe(1);
    expect(fs.readdirSync(tmp).filter((n) => n.includes('never'))).toEqual([]);
  });
});
