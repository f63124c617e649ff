/** Sizes as people write them: `10MB` (SI, 10^6), `1KiB` (IEC, 2^10), `512` or `512B` (bytes). */
import { WhiteoutError } from '../errors.js';

const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
  t: 1e12,
  tb: 1e12,
  tib: 1024 ** 4,
};

export function parseSize(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[(m[2] as string).toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new WhiteoutError(what, `'${text}' is not a size (e.g. 0, 512, 10MB, 1.5GiB; KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)`, 'usage');
  }
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new WhiteoutError(what, `'${text}' is too large`, 'usage');
  return n;
}
