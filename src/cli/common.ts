/** Flags several commands share. */
import type { Argv } from 'yargs';
import { WhiteoutError } from '../errors.js';
import type { WhiteoutForm } from '../overlay/forms.js';
import { type Limits, defaultLimits } from '../layer/limits.js';

export function withQuiet<T>(y: Argv<T>) {
  return y.option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings or summary on stderr' });
}

export function parseWhiteoutForm(v: string): WhiteoutForm {
  if (v === 'device' || v === 'xattr' || v === 'aufs') return v;
  throw new WhiteoutError('--whiteouts', `unknown form '${v}': use device, xattr or aufs`, 'usage');
}

export type Reporter = (code: number) => void;

/** The --max-* flags (SPEC.md §Limits). */
export function withLimits<T>(y: Argv<T>) {
  return y
    .option('max-path', { type: 'number', describe: `longest path in bytes (default ${defaultLimits.maxPathBytes})` })
    .option('max-depth', { type: 'number', describe: `deepest path in components (default ${defaultLimits.maxDepth})` })
    .option('max-entries', { type: 'number', describe: `most entries in a layer (default ${defaultLimits.maxEntries})` })
    .option('max-bytes', { type: 'number', describe: `largest uncompressed layer in bytes (default ${defaultLimits.maxBytes})` })
    .option('max-header', { type: 'number', describe: `largest PAX/GNU extended header in bytes (default ${defaultLimits.maxHeaderBytes})` });
}

export interface LimitArgs {
  'max-path'?: number | undefined;
  'max-depth'?: number | undefined;
  'max-entries'?: number | undefined;
  'max-bytes'?: number | undefined;
  'max-header'?: number | undefined;
}

export function limitsFrom(a: LimitArgs): Partial<Limits> {
  const out: Partial<Limits> = {};
  const set = (key: keyof Limits, flag: string, v: number | undefined) => {
    if (v === undefined) return;
    if (!Number.isSafeInteger(v) || v <= 0) throw new WhiteoutError(`--${flag}`, 'must be a positive whole number', 'usage');
    out[key] = v;
  };
  set('maxPathBytes', 'max-path', a['max-path']);
  set('maxDepth', 'max-depth', a['max-depth']);
  set('maxEntries', 'max-entries', a['max-entries']);
  set('maxBytes', 'max-bytes', a['max-bytes']);
  set('maxHeaderBytes', 'max-header', a['max-header']);
  return out;
}
