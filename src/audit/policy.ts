/**
 * `--fail-on`: the audit as a CI gate (exit 3, EXIT_POLICY). Values may be
 * repeated or comma-separated: `secrets`, `hidden`, `wasted:<size>`.
 */
import { WhiteoutError } from '../errors.js';
import { human } from '../image/progress.js';
import { display } from '../paths.js';
import type { AuditResult } from './audit.js';
import { parseSize } from './size.js';

export type Policy = { kind: 'secrets' } | { kind: 'hidden' } | { kind: 'wasted'; max: number; text: string };

export function parsePolicies(values: readonly string[]): Policy[] {
  const out: Policy[] = [];
  for (const v of values.flatMap((x) => x.split(','))) {
    const t = v.trim();
    if (t === 'secrets' || t === 'hidden') out.push({ kind: t });
    else if (t.startsWith('wasted:')) {
      const text = t.slice('wasted:'.length);
      out.push({ kind: 'wasted', max: parseSize(text, '--fail-on'), text });
    } else throw new WhiteoutError('--fail-on', `unknown policy '${t}': use secrets, hidden or wasted:<size> (e.g. wasted:10MB)`, 'usage');
  }
  return out;
}

function some(paths: string[]): string {
  const shown = paths.slice(0, 3).join(', ');
  return paths.length > 3 ? `${shown}, …` : shown;
}

/** One line per policy that fails (empty: all pass). */
export function failedPolicies(r: AuditResult, policies: readonly Policy[]): { what: string; why: string }[] {
  const out: { what: string; why: string }[] = [];
  for (const p of policies) {
    if (p.kind === 'secrets') {
      const s = r.hidden.filter((h) => h.secrets.length > 0);
      if (s.length > 0) out.push({ what: '--fail-on secrets', why: `${s.length} hidden ${s.length === 1 ? 'entry looks' : 'entries look'} like secrets (${some(s.map((h) => `/${display(h.path)} in layer ${h.layer}`))})` });
    } else if (p.kind === 'hidden') {
      if (r.hidden.length > 0) out.push({ what: '--fail-on hidden', why: `${r.hidden.length} hidden ${r.hidden.length === 1 ? 'entry' : 'entries'} (${some(r.hidden.map((h) => `/${display(h.path)}`))})` });
    } else if (r.wastedBytes > p.max) {
      out.push({ what: `--fail-on wasted:${p.text}`, why: `${human(r.wastedBytes)} (${r.wastedBytes} bytes) of hidden files, more than ${p.max} bytes` });
    }
  }
  return out;
}
