/** Tar names and link targets as check reads them: never refused, only described. */
import { ROOT, parentOf } from '../paths.js';

export interface RawName {
  /** Normalised layer path; undefined when the name has a `..` (the tar reader refuses NUL bytes already). */
  path?: string;
  absolute: boolean;
  dotdot: boolean;
}

/** Normalise as src/paths.ts normalizeName does (strip `/`, drop `.` and empty parts), saying what is wrong instead of throwing. */
export function parseRawName(raw: string): RawName {
  const parts: string[] = [];
  let dotdot = false;
  for (const c of raw.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') dotdot = true;
    parts.push(c);
  }
  const out: RawName = { absolute: raw.startsWith('/'), dotdot };
  if (!dotdot) out.path = parts.join('/');
  return out;
}

/**
 * Does a relative symlink target climb above the layer root, read from the
 * link's own directory? An absolute target does not: every runtime resolves it
 * inside the root.
 */
export function escapesRoot(linkPath: string, target: string): boolean {
  if (target.startsWith('/')) return false;
  const dir = parentOf(linkPath);
  let depth = dir === ROOT ? 0 : dir.split('/').length;
  for (const c of target.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (depth === 0) return true;
      depth--;
    } else depth++;
  }
  return false;
}
