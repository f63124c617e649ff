/**
 * Path globs for secret rules (SPEC.md §15.3), matched against the absolute
 * path in the image (`/root/.ssh/id_rsa`):
 *
 * - a glob without `/` matches the last component (`*.pem`, `.env`);
 * - one starting with `/` matches from the root; any other glob with a `/`
 *   matches at any depth (`.aws/credentials` is `**​/.aws/credentials`);
 * - `*` is any run of characters within a component, `?` one character,
 *   `**` any run of components, `[abc]`/`[!abc]` a class, `{a,b}` either.
 */
import { WhiteoutError } from '../errors.js';

function escape(c: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(c) ? `\\${c}` : c;
}

/** The body of a regular expression for one glob (no anchors). */
function translate(glob: string, what: string): string {
  let out = '';
  let inBraces = false;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        // `**/` is zero or more whole components; a bare `**` anything at all.
        if (glob[i + 1] === '/') {
          i++;
          out += '(?:[^/]*/)*';
        } else out += '.*';
      } else out += '[^/]*';
    } else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) throw new WhiteoutError(what, `glob '${glob}' has an unclosed '['`, 'input');
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else if (c === '{' && !inBraces) {
      inBraces = true;
      out += '(?:';
    } else if (c === '}' && inBraces) {
      inBraces = false;
      out += ')';
    } else if (c === ',' && inBraces) out += '|';
    else out += escape(c);
  }
  if (inBraces) throw new WhiteoutError(what, `glob '${glob}' has an unclosed '{'`, 'input');
  return out;
}

/** One regular expression matching an absolute path against any of `globs`. */
export function globsToRegExp(globs: readonly string[], what: string): RegExp {
  const parts = globs.map((g) => {
    if (g === '') throw new WhiteoutError(what, 'an empty glob matches nothing', 'input');
    if (g.startsWith('/')) return translate(g, what);
    return `(?:.*/)?${translate(g, what)}`;
  });
  return new RegExp(`^(?:${parts.join('|')})$`);
}
