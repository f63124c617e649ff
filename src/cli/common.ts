/** Flags several commands share. */
import type { Argv } from 'yargs';
import { WhiteoutError } from '../errors.js';
import type { WhiteoutForm } from '../overlay/forms.js';

export function withQuiet<T>(y: Argv<T>) {
  return y.option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings or summary on stderr' });
}

export function parseWhiteoutForm(v: string): WhiteoutForm {
  if (v === 'device' || v === 'xattr' || v === 'aufs') return v;
  throw new WhiteoutError('--whiteouts', `unknown form '${v}': use device, xattr or aufs`, 'usage');
}

export type Reporter = (code: number) => void;
