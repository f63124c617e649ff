/**
 * A rules file extends the built-in secret rules (SPEC.md §15.3):
 *
 * ```json
 * {
 *   "rules": [
 *     { "id": "acme-token", "description": "ACME API token", "content": "acme_[a-z0-9]{32}" },
 *     { "id": "vault", "paths": ["*.vault", "/srv/secrets/**"] },
 *     { "id": "ci-env", "pathRegex": "/ci/[^/]+\\.env$", "content": "TOKEN=", "ignoreCase": true }
 *   ],
 *   "disable": ["password-assignment"]
 * }
 * ```
 *
 * A rule has an `id` and at least one of `paths` (globs, src/audit/glob.ts),
 * `pathRegex` or `content` (JavaScript regular expressions); with a path and
 * content both must match. A rule with a built-in's id replaces it;
 * `disable` removes built-ins by id.
 */
import fs from 'node:fs';
import { WhiteoutError, hasCode } from '../errors.js';
import { globsToRegExp } from './glob.js';
import { type SecretRule, builtinRules } from './secret-rules.js';

const KEYS = new Set(['id', 'description', 'paths', 'pathRegex', 'content', 'ignoreCase']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function regex(source: unknown, flags: string, what: string): RegExp {
  if (typeof source !== 'string' || source === '') throw new WhiteoutError(what, 'must be a non-empty string', 'input');
  try {
    return new RegExp(source, flags);
  } catch (e) {
    throw new WhiteoutError(what, `is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`, 'input');
  }
}

function parseRule(v: unknown, what: string): SecretRule {
  if (!isRecord(v)) throw new WhiteoutError(what, 'must be an object', 'input');
  for (const k of Object.keys(v)) if (!KEYS.has(k)) throw new WhiteoutError(what, `unknown field '${k}' (known: ${[...KEYS].join(', ')})`, 'input');
  const id = v.id;
  if (typeof id !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(id)) throw new WhiteoutError(what, "needs an 'id' of letters, digits, '.', '_' or '-'", 'input');
  const w = `${what} (${id})`;
  if (v.ignoreCase !== undefined && typeof v.ignoreCase !== 'boolean') throw new WhiteoutError(w, "'ignoreCase' must be true or false", 'input');
  const flags = v.ignoreCase ? 'i' : '';
  if (v.description !== undefined && typeof v.description !== 'string') throw new WhiteoutError(w, "'description' must be a string", 'input');
  const rule: SecretRule = { id, description: (v.description as string | undefined) ?? id };
  const paths: RegExp[] = [];
  if (v.paths !== undefined) {
    if (!Array.isArray(v.paths) || v.paths.length === 0 || !v.paths.every((g): g is string => typeof g === 'string')) {
      throw new WhiteoutError(w, "'paths' must be a non-empty list of globs", 'input');
    }
    const re = globsToRegExp(v.paths, w);
    paths.push(v.ignoreCase ? new RegExp(re.source, 'i') : re);
  }
  if (v.pathRegex !== undefined) paths.push(regex(v.pathRegex, flags, `${w}: pathRegex`));
  if (paths.length === 1) rule.path = paths[0] as RegExp;
  else if (paths.length === 2) rule.path = new RegExp(`(?:${(paths[0] as RegExp).source})|(?:${(paths[1] as RegExp).source})`, flags);
  // `m`: `^` and `$` are line anchors, which is what a content pattern means.
  if (v.content !== undefined) rule.content = regex(v.content, `m${flags}`, `${w}: content`);
  if (!rule.path && !rule.content) throw new WhiteoutError(w, "needs 'paths', 'pathRegex' or 'content'", 'input');
  return rule;
}

/** The rules in a rules file, applied to the built-ins. */
export function parseRulesFile(text: string, what: string, base: readonly SecretRule[] = builtinRules): SecretRule[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new WhiteoutError(what, `is not JSON: ${e instanceof Error ? e.message : String(e)}`, 'input');
  }
  if (!isRecord(doc)) throw new WhiteoutError(what, 'must hold a JSON object with "rules" and/or "disable"', 'input');
  for (const k of Object.keys(doc)) if (k !== 'rules' && k !== 'disable') throw new WhiteoutError(what, `unknown field '${k}' (known: rules, disable)`, 'input');
  const out = new Map(base.map((r) => [r.id, r]));
  const disable = doc.disable ?? [];
  if (!Array.isArray(disable) || !disable.every((d): d is string => typeof d === 'string')) throw new WhiteoutError(what, "'disable' must be a list of rule ids", 'input');
  for (const id of disable) {
    if (!out.delete(id)) throw new WhiteoutError(what, `'disable' names '${id}', which is not a built-in rule`, 'input');
  }
  const rules = doc.rules ?? [];
  if (!Array.isArray(rules)) throw new WhiteoutError(what, "'rules' must be a list", 'input');
  const ids = new Set<string>();
  for (const [i, v] of rules.entries()) {
    const r = parseRule(v, `${what}: rule ${i + 1}`);
    if (ids.has(r.id)) throw new WhiteoutError(what, `rule id '${r.id}' is used twice`, 'input');
    ids.add(r.id);
    out.set(r.id, r);
  }
  return [...out.values()];
}

/** The rules of `file` applied to `base` (default: the built-ins). */
export async function loadRulesFile(file: string, base: readonly SecretRule[] = builtinRules): Promise<SecretRule[]> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (e) {
    if (hasCode(e, 'ENOENT')) throw new WhiteoutError(file, 'no such file', 'input');
    throw e;
  }
  return parseRulesFile(text, file, base);
}
