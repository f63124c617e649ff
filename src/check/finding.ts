/** What `whiteout check` reports: findings, each tied to a layer, an entry and a rule. */
import { display } from '../paths.js';
import { RULES, type RuleId, type Severity } from './rules.js';

export interface Finding {
  severity: Severity;
  rule: RuleId;
  /** Where the rule is stated: `SPEC.md §4`. */
  spec: string;
  /** Index of the layer (0 = bottom); absent for an overlay directory or the image as a whole. */
  layer?: number;
  diffID?: string;
  /** The path as shown to people: absolute, `/a/b` (`/` for the root); absent for a whole layer or image. */
  entry?: string;
  /** Byte offset of the entry's first header block in the uncompressed tar. */
  offset?: number;
  message: string;
}

/** Where a finding is, in a layer being read. */
export interface At {
  /** Layer path or raw tar name (byte string). */
  entry?: string;
  offset?: number;
}

/** Byte-string layer path → `/a/b`. */
export function shownPath(p: string): string {
  return `/${display(p)}`;
}

export function finding(rule: RuleId, message: string, at: At = {}, layer?: { index: number; diffID?: string }): Finding {
  const def = RULES[rule];
  const f: Finding = { severity: def.severity, rule, spec: `SPEC.md ${def.section}`, message };
  if (layer) {
    f.layer = layer.index;
    if (layer.diffID) f.diffID = layer.diffID;
  }
  if (at.entry !== undefined) f.entry = shownPath(at.entry);
  if (at.offset !== undefined) f.offset = at.offset;
  return f;
}

export interface Counts {
  errors: number;
  warnings: number;
  infos: number;
}

export function countFindings(fs: readonly Finding[]): Counts {
  const c: Counts = { errors: 0, warnings: 0, infos: 0 };
  for (const f of fs) {
    if (f.severity === 'error') c.errors++;
    else if (f.severity === 'warning') c.warnings++;
    else c.infos++;
  }
  return c;
}
