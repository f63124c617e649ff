/**
 * Content scanning of hidden files, while they stream (SPEC.md §15.3): only
 * the first `cap` bytes of a file are looked at, and each chunk is searched
 * together with the last OVERLAP bytes before it, so a match that straddles
 * a chunk boundary is still found (up to OVERLAP bytes long). Each rule is
 * reported once per file; the scan stops when every rule has matched.
 */
import { display } from '../paths.js';
import type { Finding, SecretRule } from './secret-rules.js';

/** The longest match guaranteed to be found across a chunk boundary. */
export const OVERLAP = 4096;
export const DEFAULT_SCAN_BYTES = 1 << 20;

/** A copy that can be run from a position (`g`), whatever flags the rule had. */
function globalCopy(re: RegExp): RegExp {
  return new RegExp(re.source, `${re.flags.replace(/[gy]/g, '')}g`);
}

export class ContentScanner {
  private readonly pending: { id: string; re: RegExp }[];
  readonly found: string[] = [];
  private seen = 0;
  /** Text of the bytes before the next chunk, with one more character of context in front. */
  private carry = '';
  /** Whether carry[0] is context only (the carry was cut from a longer window). */
  private context = false;

  constructor(
    rules: readonly SecretRule[],
    private readonly cap: number,
  ) {
    this.pending = rules.filter((r) => r.content).map((r) => ({ id: r.id, re: globalCopy(r.content as RegExp) }));
  }

  get done(): boolean {
    return this.pending.length === 0 || this.seen >= this.cap;
  }

  /** Feed the next chunk of the file; returns true when nothing more is needed. */
  push(chunk: Buffer): boolean {
    if (this.done) return true;
    const take = Math.min(chunk.length, this.cap - this.seen);
    const text = chunk.toString('latin1', 0, take);
    this.seen += take;
    // With a carry, position 0 is context only (for `\b`, look-behind and `^` after a newline):
    // a match may not start there, it belongs to the previous window.
    const skip = this.context ? 1 : 0;
    const window = this.carry + text;
    for (let i = this.pending.length - 1; i >= 0; i--) {
      const { id, re } = this.pending[i] as { id: string; re: RegExp };
      re.lastIndex = 0;
      let m = re.exec(window);
      while (m && m.index < skip) {
        re.lastIndex = m.index + 1;
        m = re.exec(window);
      }
      if (m) {
        this.found.push(id);
        this.pending.splice(i, 1);
      }
    }
    if (window.length > OVERLAP + 1) {
      this.carry = window.slice(-(OVERLAP + 1));
      this.context = true;
    } else this.carry = window;
    return this.done;
  }
}

/** Scan a body (stops reading at the cap or when every rule has matched; the reader skips the rest). */
export async function scanBody(body: AsyncIterable<Buffer>, rules: readonly SecretRule[], cap: number): Promise<string[]> {
  const s = new ContentScanner(rules, cap);
  if (s.done) return [];
  for await (const chunk of body) if (s.push(chunk)) break;
  // In the rules' order, whatever order they matched in.
  return rules.filter((r) => s.found.includes(r.id)).map((r) => r.id);
}

/** The rule set in use: the built-ins, changed by a rules file (src/audit/rules-file.ts). */
export class SecretMatcher {
  constructor(readonly rules: readonly SecretRule[]) {}

  private static shown(p: string): string {
    return `/${display(p)}`;
  }

  /** Findings from path-only rules, for a layer path. */
  byName(p: string): Finding[] {
    const abs = SecretMatcher.shown(p);
    return this.rules.filter((r) => r.path && !r.content && r.path.test(abs)).map((r) => ({ rule: r.id, match: 'name' as const }));
  }

  /** The content rules that apply to a layer path (a rule with a path too applies only where it matches). */
  contentRulesFor(p: string): SecretRule[] {
    const abs = SecretMatcher.shown(p);
    return this.rules.filter((r) => r.content && (!r.path || r.path.test(abs)));
  }

  get hasContentRules(): boolean {
    return this.rules.some((r) => r.content);
  }
}
