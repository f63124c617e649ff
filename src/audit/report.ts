/**
 * The audit for people (a table per layer, then a summary per layer in the
 * manner of dive: wasted bytes and efficiency) and for machines (one JSON
 * document). Both are streams of lines, so `| head` ends them quietly.
 */
import { type Image, type ImageLayer, imageSummary } from '../image/image.js';
import { human } from '../image/progress.js';
import { display, isValidUtf8 } from '../paths.js';
import type { AuditResult, HiddenItem, LayerStats } from './audit.js';

/** Share of the bytes that still show: 1 when nothing is wasted (or there are no bytes). */
export function efficiency(bytes: number, wasted: number): number {
  return bytes === 0 ? 1 : Math.round(((bytes - wasted) / bytes) * 10000) / 10000;
}

function createdBy(l: ImageLayer | undefined): string | undefined {
  return l?.history?.createdBy;
}

/** A history step short enough for a table: the shell prefix off, spaces folded. */
function shortStep(s: string | undefined, width: number): string {
  if (!s) return '';
  const t = s.replace(/^\/bin\/sh -c (#\(nop\) )?(--mount=\S+\s+)*/, '').replace(/\s+/g, ' ').trim();
  return t.length > width ? `${t.slice(0, width - 1)}…` : t;
}

function abs(p: string): string {
  return `/${display(p)}`;
}

export function jsonItem(h: HiddenItem, layers: readonly ImageLayer[]): Record<string, unknown> {
  const l = layers.find((x) => x.index === h.layer);
  return {
    path: abs(h.path),
    ...(isValidUtf8(h.path) ? {} : { pathHex: Buffer.from(h.path, 'latin1').toString('hex') }),
    layer: h.layer,
    ...(l?.diffID ? { diffID: l.diffID } : {}),
    type: h.type,
    size: h.size,
    mode: h.mode,
    reason: h.reason,
    hiddenBy: h.hiddenBy,
    ...(createdBy(l) !== undefined ? { createdBy: createdBy(l) } : {}),
    ...(h.target !== undefined ? { target: h.type === 'hardlink' ? abs(h.target) : display(h.target) } : {}),
    ...(h.visibleAs !== undefined ? { visibleAs: abs(h.visibleAs) } : {}),
    secrets: h.secrets,
  };
}

function jsonLayer(s: LayerStats, l: ImageLayer | undefined): Record<string, unknown> {
  return {
    index: s.index,
    ...(l?.diffID ? { diffID: l.diffID } : {}),
    ...(l?.digest ? { digest: l.digest } : {}),
    ...(createdBy(l) !== undefined ? { createdBy: createdBy(l) } : {}),
    entries: s.entries,
    whiteouts: s.whiteouts,
    opaque: s.opaque,
    bytes: s.bytes,
    hidden: s.hidden,
    wastedBytes: s.wastedBytes,
    efficiency: efficiency(s.bytes, s.wastedBytes),
  };
}

function secretCount(r: AuditResult): number {
  return r.hidden.filter((h) => h.secrets.length > 0).length;
}

/** `{ image, …, layers, hidden, wastedBytes, … }`, one item per line. */
export async function* auditJson(image: Image, r: AuditResult): AsyncGenerator<Buffer> {
  const out = (s: string) => Buffer.from(s, 'utf8');
  const head = { ...imageSummary(image), layers: r.layers.map((s) => jsonLayer(s, image.layers.find((l) => l.index === s.index))) };
  yield out(`${JSON.stringify(head).slice(0, -1)},"hidden":[`);
  for (const [i, h] of r.hidden.entries()) yield out(`${i > 0 ? ',' : ''}\n${JSON.stringify(jsonItem(h, image.layers))}`);
  const tail = { wastedBytes: r.wastedBytes, totalBytes: r.totalBytes, efficiency: efficiency(r.totalBytes, r.wastedBytes), secrets: secretCount(r) };
  yield out(`\n],${JSON.stringify(tail).slice(1)}\n`);
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(1)}%`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The table: hidden entries grouped by the layer that ships them, then a summary per layer. */
export async function* auditText(image: Image, r: AuditResult): AsyncGenerator<Buffer> {
  const out = (s: string) => Buffer.from(`${s}\n`, 'utf8');
  const h = imageSummary(image);
  yield out(`${image.what}  ${[h.format, h.ref, h.platform].filter((x) => x !== undefined).join('  ')}`);
  const byLayer = new Map<number, HiddenItem[]>();
  for (const it of r.hidden) {
    const list = byLayer.get(it.layer);
    if (list) list.push(it);
    else byLayer.set(it.layer, [it]);
  }
  const layerOf = (i: number) => image.layers.find((l) => l.index === i);
  for (const s of r.layers) {
    const items = byLayer.get(s.index);
    if (!items) continue;
    const l = layerOf(s.index);
    yield out('');
    yield out(`layer ${s.index}${l?.diffID ? `  ${l.diffID.slice(0, 19)}…` : ''}  ${shortStep(createdBy(l), 70)}`.trimEnd());
    yield out(`  ${pad('HIDDEN BY', 10)} ${pad('REASON', 12)} ${pad('TYPE', 9)} ${pad('SIZE', 9, true)}  PATH`);
    for (const it of items) {
      const size = it.type === 'file' ? human(it.size) : '-';
      const tail = it.type === 'symlink' ? ` -> ${display(it.target ?? '')}` : it.type === 'hardlink' ? ` link to ${abs(it.target ?? '')}` : it.type === 'dir' ? '/' : '';
      yield out(`  ${pad(`layer ${it.hiddenBy}`, 10)} ${pad(it.reason, 12)} ${pad(it.type, 9)} ${pad(size, 9, true)}  ${abs(it.path)}${tail}`);
      if (it.visibleAs !== undefined) yield out(`${' '.repeat(47)}(content still visible as ${abs(it.visibleAs)}: not wasted)`);
      if (it.secrets.length > 0) yield out(`${' '.repeat(47)}SECRET: ${it.secrets.map((f) => `${f.rule} (${f.match})`).join(', ')}`);
    }
    yield out(`  ${plural(s.hidden, 'hidden entry', 'hidden entries')}, ${human(s.wastedBytes)} wasted of ${human(s.bytes)} in the layer`);
  }
  yield out('');
  yield out(`${pad('LAYER', 6)} ${pad('ENTRIES', 8, true)} ${pad('SIZE', 10, true)} ${pad('HIDDEN', 7, true)} ${pad('WASTED', 10, true)} ${pad('EFFICIENCY', 10, true)}  CREATED BY`);
  for (const s of r.layers) {
    yield out(
      `${pad(String(s.index), 6)} ${pad(String(s.entries), 8, true)} ${pad(human(s.bytes), 10, true)} ${pad(String(s.hidden), 7, true)} ${pad(human(s.wastedBytes), 10, true)} ${pad(pct(efficiency(s.bytes, s.wastedBytes)), 10, true)}  ${shortStep(createdBy(layerOf(s.index)), 50)}`,
    );
  }
  const entries = r.layers.reduce((n, s) => n + s.entries, 0);
  yield out(`${pad('total', 6)} ${pad(String(entries), 8, true)} ${pad(human(r.totalBytes), 10, true)} ${pad(String(r.hidden.length), 7, true)} ${pad(human(r.wastedBytes), 10, true)} ${pad(pct(efficiency(r.totalBytes, r.wastedBytes)), 10, true)}`);
  yield out('');
  const files = r.hidden.filter((x) => x.type === 'file').length;
  const secrets = secretCount(r);
  yield out(
    r.hidden.length === 0
      ? 'nothing hidden: every entry of every layer shows in the merged tree'
      : `${human(r.wastedBytes)} (${r.wastedBytes} bytes) wasted in ${plural(files, 'hidden file')} (${plural(r.hidden.length, 'hidden entry', 'hidden entries')} in all); ${secrets === 0 ? 'none looks like a secret' : secrets === 1 ? '1 looks like a secret' : `${secrets} look like secrets`}`,
  );
}
