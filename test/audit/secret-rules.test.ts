/** The secret rules (SPEC.md §15.3): each built-in hits a sample and misses a near miss; the streaming scan; rules files. */
import { describe, expect, it } from 'vitest';
import { globsToRegExp } from '../../src/audit/glob.js';
import { parseRulesFile } from '../../src/audit/rules-file.js';
import { builtinRules } from '../../src/audit/secret-rules.js';
import { ContentScanner, OVERLAP, SecretMatcher, scanBody } from '../../src/audit/secret-scan.js';
import { WhiteoutError } from '../../src/errors.js';

const matcher = new SecretMatcher(builtinRules);
const byName = (p: string) => matcher.byName(p.replace(/^\//, '')).map((f) => f.rule);

async function* chunks(...parts: (string | Buffer)[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1');
}

async function contentHits(text: string, cap = 1 << 20): Promise<string[]> {
  return scanBody(chunks(text), builtinRules, cap);
}

const nameCases: [string, string, string][] = [
  // rule, a hit, a near miss
  ['ssh-private-key', '/root/.ssh/id_rsa', '/root/.ssh/id_rsa.pub'],
  ['ssh-private-key', '/etc/ssh/ssh_host_ed25519_key', '/etc/ssh/ssh_host_ed25519_key.pub'],
  ['pem-file', '/etc/tls/server.pem', '/etc/tls/server.pem.txt'],
  ['key-file', '/srv/app/tls.key', '/usr/share/keyboard.keys'],
  ['pkcs12', '/opt/keystore.p12', '/opt/keystore.p12.sha256'],
  ['dotenv', '/app/.env', '/app/.env.example'],
  ['dotenv', '/app/.env.production', '/app/.environment'],
  ['npmrc', '/root/.npmrc', '/root/npmrc'],
  ['netrc', '/home/u/.netrc', '/home/u/.netrc.d'],
  ['git-credentials', '/root/.git-credentials', '/root/.gitconfig'],
  ['pypirc', '/root/.pypirc', '/root/.pypirc-example'],
  ['kubeconfig', '/root/.kube/config', '/root/.kube/cache/discovery'],
  ['kubeconfig', '/etc/kubernetes/admin.conf', '/etc/kubernetes/admin.conf.d'],
  ['aws-credentials', '/root/.aws/credentials', '/root/.aws/config'],
  ['gcloud-credentials', '/root/.config/gcloud/application_default_credentials.json', '/root/.config/gcloud/configurations/config_default'],
  ['azure-credentials', '/root/.azure/accessTokens.json', '/root/.azure/azureProfile.json'],
  ['docker-config', '/root/.docker/config.json', '/etc/docker/daemon.json'],
];

const gh = `ghp_${'a1B2'.repeat(9)}`;
const contentCases: [string, string, string][] = [
  ['private-key', '-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n', '-----BEGIN PUBLIC KEY-----\nMIIB...\n-----BEGIN CERTIFICATE-----\n'],
  ['private-key', '-----BEGIN OPENSSH PRIVATE KEY-----\n', '-----BEGIN OPENSSH PUBLIC KEY-----\n'],
  ['aws-access-key-id', 'key = AKIAIOSFODNN7EXAMPLE\n', 'key = AKIAIOSFODNN7EXAMPL\n'],
  ['aws-secret-access-key', `aws_secret_access_key = ${'wJalrXUtnFEMI/K7MDENG/bPxRfiCY'}EXAMPLEKEY\n`, 'aws_secret_access_key = ${AWS_SECRET}\n'],
  ['github-token', `GITHUB_TOKEN=${gh}\n`, 'GITHUB_TOKEN=ghp_tooShort123\n'],
  ['github-token', `token: github_pat_${'x'.repeat(82)}`, 'github_pat_short'],
  ['gitlab-token', 'CI_TOKEN=glpat-abcdefghij0123456789\n', 'CI_TOKEN=glpat-abc\n'],
  ['slack-token', 'SLACK=xoxb-1234567890-abcdef\n', 'SLACK=xoxz-1234567890-abcdef\n'],
  ['password-assignment', 'db.password=hunter22\n', 'password=${DB_PASSWORD}\n# set the password: below\n'],
  ['password-assignment', '  POSTGRES_PASSWORD: "s3cr3t!"\n', 'PasswordAuthentication yes\n'],
];

describe('built-in rules', () => {
  it('every built-in rule has a hit and a near miss here', () => {
    const tested = new Set([...nameCases, ...contentCases].map(([id]) => id));
    expect(builtinRules.map((r) => r.id).filter((id) => !tested.has(id))).toEqual([]);
  });

  for (const [id, hit, miss] of nameCases) {
    it(`${id} (name): ${hit} yes, ${miss} no`, () => {
      expect(byName(hit)).toContain(id);
      expect(byName(miss)).not.toContain(id);
    });
  }

  for (const [id, hit, miss] of contentCases) {
    it(`${id} (content): hit and near miss`, async () => {
      expect(await contentHits(hit)).toContain(id);
      expect(await contentHits(miss)).not.toContain(id);
    });
  }
});

describe('streaming content scan', () => {
  it('a match split across chunks is found, at any split point', async () => {
    const text = `x=1\nGITHUB_TOKEN=${gh}\n`;
    for (let cut = 1; cut < text.length; cut++) {
      expect(await scanBody(chunks(text.slice(0, cut), text.slice(cut)), builtinRules, 1 << 20), `cut at ${cut}`).toEqual(['github-token']);
    }
  });

  it('split across many one-byte chunks, after more than the overlap of filler', async () => {
    const filler = 'y'.repeat(OVERLAP * 3);
    const text = `${filler}\n-----BEGIN EC PRIVATE KEY-----\n`;
    expect(await scanBody(chunks(...[...text].map((c) => c)), builtinRules, 1 << 20)).toEqual(['private-key']);
  });

  it('a word that straddles the boundary keeps its context (no false match from the cut)', async () => {
    // 'QAKIA…' is not an access key id: the Q before it makes it part of a longer word.
    const before = 'z'.repeat(OVERLAP * 2) + 'Q';
    expect(await scanBody(chunks(before, 'AKIAIOSFODNN7EXAMPLE\n'), builtinRules, 1 << 20)).toEqual([]);
    expect(await scanBody(chunks(`${before} `, 'AKIAIOSFODNN7EXAMPLE\n'), builtinRules, 1 << 20)).toEqual(['aws-access-key-id']);
  });

  it('`^` after a cut is not a line start', async () => {
    const longLine = `note ${'q'.repeat(OVERLAP * 2)}`;
    // The carried window starts in the middle of this line; `password=` there is not at a line start.
    expect(await scanBody(chunks(longLine, 'password=hunter22\n'), builtinRules, 1 << 20)).toEqual([]);
    expect(await scanBody(chunks(`${longLine}\n`, 'password=hunter22\n'), builtinRules, 1 << 20)).toEqual(['password-assignment']);
  });

  it('the cap is honoured: bytes past it are not read', async () => {
    const secret = '-----BEGIN PRIVATE KEY-----';
    const pad = 'p'.repeat(1000);
    expect(await contentHits(pad + secret, 1000 + secret.length)).toEqual(['private-key']);
    expect(await contentHits(pad + secret, 1000 + secret.length - 1)).toEqual([]);
    let read = 0;
    async function* counted(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 100; i++) {
        read += 4096;
        yield Buffer.alloc(4096, 0x61);
      }
    }
    expect(await scanBody(counted(), builtinRules, 10_000)).toEqual([]);
    expect(read).toBe(3 * 4096);
    const s = new ContentScanner(builtinRules, 0);
    expect(s.done).toBe(true);
  });

  it('binary content: the bytes are read as Latin-1, so ASCII patterns still match', async () => {
    const bin = Buffer.concat([Buffer.from([0, 0xff, 0xfe, 0x10]), Buffer.from(`\n${gh}\0`), Buffer.from([0xc3, 0x28])]);
    expect(await scanBody(chunks(bin), builtinRules, 1 << 20)).toEqual(['github-token']);
  });
});

describe('globs', () => {
  it('basename, anchored and any-depth forms; *, **, ?, classes and braces', () => {
    const g = (glob: string) => globsToRegExp([glob], 'test');
    expect(g('*.pem').test('/a/b/c.pem')).toBe(true);
    expect(g('*.pem').test('/a/b.pem/c')).toBe(false);
    expect(g('/etc/*.conf').test('/etc/a.conf')).toBe(true);
    expect(g('/etc/*.conf').test('/x/etc/a.conf')).toBe(false);
    expect(g('.kube/config').test('/home/u/.kube/config')).toBe(true);
    expect(g('/srv/**/secret').test('/srv/secret')).toBe(true);
    expect(g('/srv/**/secret').test('/srv/a/b/secret')).toBe(true);
    expect(g('/srv/**').test('/srv/a/b')).toBe(true);
    expect(g('id_?sa').test('/id_rsa')).toBe(true);
    expect(g('id_[!r]sa').test('/id_rsa')).toBe(false);
    expect(g('id_[!r]sa').test('/id_dsa')).toBe(true);
    expect(g('{a,b}.txt').test('/b.txt')).toBe(true);
    expect(g('a.b').test('/axb')).toBe(false);
  });
});

describe('rules file', () => {
  const file = JSON.stringify({
    rules: [
      { id: 'acme-token', description: 'ACME API token', content: 'acme_[a-z0-9]{8}' },
      { id: 'vault', paths: ['*.vault', '/srv/secrets/**'] },
      { id: 'ci-env', pathRegex: '/ci/[^/]+\\.cfg$', content: '^token=', ignoreCase: true },
      { id: 'key-file', paths: ['*.privkey'] },
    ],
    disable: ['password-assignment'],
  });
  const rules = parseRulesFile(file, 'rules.json');
  const m = new SecretMatcher(rules);

  it('adds rules by name, by content, and by both', async () => {
    expect(m.byName('srv/secrets/a/b').map((f) => f.rule)).toEqual(['vault']);
    expect(m.byName('x/y.vault').map((f) => f.rule)).toEqual(['vault']);
    expect(await scanBody(chunks('id = acme_abcd1234\n'), m.contentRulesFor('etc/x'), 1 << 20)).toEqual(['acme-token']);
    // A rule with a path and content applies only where the path matches, and needs the content.
    expect(m.contentRulesFor('etc/x.cfg').map((r) => r.id)).not.toContain('ci-env');
    expect(await scanBody(chunks('TOKEN=abc\n'), m.contentRulesFor('ci/build.cfg'), 1 << 20)).toEqual(['ci-env']);
    expect(m.byName('ci/build.cfg')).toEqual([]);
  });

  it('replaces a built-in with the same id, and disables by id', async () => {
    expect(m.byName('a/tls.key')).toEqual([]);
    expect(m.byName('a/tls.privkey').map((f) => f.rule)).toEqual(['key-file']);
    expect(await scanBody(chunks('password=hunter22\n'), m.contentRulesFor('etc/x'), 1 << 20)).toEqual([]);
  });

  it('refuses a malformed file with one line that says where', () => {
    const bad = (doc: unknown) => () => parseRulesFile(typeof doc === 'string' ? doc : JSON.stringify(doc), 'r.json');
    expect(bad('{')).toThrow(/^r.json: is not JSON/);
    expect(bad({ rules: [{ id: 'x' }] })).toThrow("needs 'paths', 'pathRegex' or 'content'");
    expect(bad({ rules: [{ id: 'x', content: '(' }] })).toThrow(/rule 1 \(x\): content: is not a valid regular expression/);
    expect(bad({ rules: [{ id: 'x', paths: 'a' }] })).toThrow("'paths' must be a non-empty list of globs");
    expect(bad({ rules: [{ id: 'x', conten: 'a' }] })).toThrow("unknown field 'conten'");
    expect(bad({ disable: ['nope'] })).toThrow("'disable' names 'nope', which is not a built-in rule");
    expect(bad({ rules: [{ id: 'x', content: 'a' }, { id: 'x', content: 'b' }] })).toThrow("rule id 'x' is used twice");
    expect(bad([])).toThrow(WhiteoutError);
  });
});
