/**
 * The built-in secret rules (SPEC.md §15.3). A rule looks at a hidden file's
 * path, its content, or both: a path rule needs no reading; a content rule
 * reads the first bytes of the file (the cap, src/audit/secret-scan.ts) as
 * Latin-1, so an ASCII pattern finds its bytes in any file, binary or not.
 * Every rule here has a hit and a near miss in test/audit/secret-rules.test.ts.
 */
import { globsToRegExp } from './glob.js';

export interface SecretRule {
  id: string;
  description: string;
  /** Matches the absolute path in the image, as text. */
  path?: RegExp;
  /** Matches the content. With `path` too, both must match. */
  content?: RegExp;
}

/** How a rule found a file: by its path alone, or by what it holds. */
export type FindingKind = 'name' | 'content';

export interface Finding {
  rule: string;
  match: FindingKind;
}

const W = 'built-in rule';

function byPath(id: string, description: string, globs: string[]): SecretRule {
  return { id, description, path: globsToRegExp(globs, W) };
}

export const builtinRules: readonly SecretRule[] = [
  byPath('ssh-private-key', 'an SSH private key', ['{id_rsa,id_dsa,id_ecdsa,id_ed25519,id_ecdsa_sk,id_ed25519_sk,identity}', 'ssh_host_*_key']),
  byPath('pem-file', 'a PEM file (keys or certificates)', ['*.pem']),
  byPath('key-file', 'a key file', ['*.key']),
  byPath('pkcs12', 'a PKCS#12 key store', ['*.p12', '*.pfx']),
  // `.env.example` and friends are templates, by convention without values.
  { id: 'dotenv', description: 'a dotenv file', path: /(?:^|\/)\.env(?:\.(?!(?:example|sample|template|dist)$)[^/]+)?$/ },
  byPath('npmrc', 'npm configuration (may hold registry tokens)', ['.npmrc']),
  byPath('netrc', 'netrc credentials', ['.netrc', '_netrc']),
  byPath('git-credentials', 'git credential store', ['.git-credentials']),
  byPath('pypirc', 'PyPI credentials', ['.pypirc']),
  byPath('kubeconfig', 'a Kubernetes client configuration', ['.kube/config', 'kubeconfig', '*.kubeconfig', '/etc/kubernetes/admin.conf']),
  byPath('aws-credentials', 'AWS credentials', ['.aws/credentials']),
  byPath('gcloud-credentials', 'Google Cloud credentials', [
    '.config/gcloud/credentials.db',
    '.config/gcloud/access_tokens.db',
    '.config/gcloud/legacy_credentials/**',
    'application_default_credentials.json',
  ]),
  byPath('azure-credentials', 'Azure CLI tokens', ['.azure/accessTokens.json', '.azure/msal_token_cache.*']),
  byPath('docker-config', 'Docker client configuration (registry auths)', ['.docker/config.json']),
  {
    id: 'private-key',
    description: 'a PEM private key block',
    content: /-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----/,
  },
  { id: 'aws-access-key-id', description: 'an AWS access key id', content: /(?<![A-Z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}(?![A-Z0-9])/ },
  { id: 'aws-secret-access-key', description: 'an AWS secret access key', content: /aws_secret_access_key["']?\s*[=:]\s*["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])/i },
  { id: 'github-token', description: 'a GitHub token', content: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])/ },
  { id: 'gitlab-token', description: 'a GitLab token', content: /(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}/ },
  { id: 'slack-token', description: 'a Slack token', content: /(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}/ },
  {
    id: 'password-assignment',
    description: 'a password=… line',
    // A value of 3+ characters that is not a reference (`$VAR`, `${…}`, `<…>`, `%…%`).
    content: /^[ \t]*(?:export[ \t]+)?["']?[A-Za-z0-9_.-]*(?:password|passwd)["']?[ \t]*[=:][ \t]*["']?(?![$<{%])[^\s"'#]{3,}/im,
  },
];
