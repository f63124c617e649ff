/**
 * `--layers <from>..<to>` and `--omit <n>`: which layers of the image take
 * part. Numbers are the image's own layer indices, 0 = bottom, both ends
 * inclusive; either end may be left out (`3..`, `..2`).
 */
import { WhiteoutError } from '../errors.js';

export interface LayerSelection {
  from?: number;
  to?: number;
  omit?: readonly number[];
}

export function parseLayerRange(text: string): { from?: number; to?: number } {
  const m = /^(\d*)\.\.(\d*)$/.exec(text) ?? /^(\d+)()$/.exec(text);
  if (!m) throw new WhiteoutError('--layers', `'${text}' is not <from>..<to> (e.g. 0..3, 2.., ..4, or one number)`, 'usage');
  const from = m[1] === '' ? undefined : Number(m[1]);
  const to = m[2] === '' ? undefined : Number(m[2]);
  // "5" alone means just layer 5.
  if (!text.includes('..')) return { from: from as number, to: from as number };
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

/** The layers to use, bottom first, keeping each layer's own index. */
export function selectLayers<T extends { index: number }>(layers: readonly T[], sel: LayerSelection): T[] {
  const n = layers.length;
  const check = (v: number | undefined, flag: string) => {
    if (v !== undefined && !Number.isInteger(v)) throw new WhiteoutError(flag, `'${v}' is not a layer number`, 'usage');
    if (v !== undefined && (v < 0 || v >= n)) throw new WhiteoutError(flag, `layer ${v} does not exist (the image has layers 0..${n - 1})`, 'usage');
  };
  check(sel.from, '--layers');
  check(sel.to, '--layers');
  for (const o of sel.omit ?? []) check(o, '--omit');
  const from = sel.from ?? 0;
  const to = sel.to ?? n - 1;
  if (from > to) throw new WhiteoutError('--layers', `${from}..${to} is empty`, 'usage');
  const omit = new Set(sel.omit ?? []);
  const chosen = layers.filter((l) => l.index >= from && l.index <= to && !omit.has(l.index));
  if (chosen.length === 0 && n > 0) throw new WhiteoutError('--omit', 'leaves no layers', 'usage');
  return chosen;
}
