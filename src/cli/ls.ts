import type { CommandModule } from 'yargs';
import type { Entry } from '../entry.js';
import type { ImageLayer } from '../image/image.js';
import type { Measured } from '../image/verify.js';
import { display, isValidUtf8 } from '../paths.js';
import type { Reporter } from './common.js';
import { checkInputs, keepDash, withImageFlags } from './flags.js';
import { warn } from './output.js';

interface Args {
  inputs: string[];
  json: boolean;
  quiet: boolean;
  platform?: string;
  ref?: string;
  layers?: string;
}

const TYPE_CHAR: Record<string, string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', char: 'c', block: 'b', fifo: 'p' };

/** `ls -l` style permissions, setuid/setgid/sticky included. */
export function modeString(kind: string, mode: number): string {
  const rwx = (bits: number, special: boolean, ch: string) =>
    `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-'}`;
  return (
    (TYPE_CHAR[kind] ?? '?') +
    rwx((mode >> 6) & 7, (mode & 0o4000) !== 0, 's') +
    rwx((mode >> 3) & 7, (mode & 0o2000) !== 0, 's') +
    rwx(mode & 7, (mode & 0o1000) !== 0, 't')
  );
}

function time(mtime: number): string {
  const d = new Date(mtime * 1000);
  return Number.isNaN(d.getTime()) ? String(mtime) : d.toISOString().replace(/\.000Z$/, 'Z');
}

function shown(p: string, dir: boolean): string {
  return `/${display(p)}${dir && p !== '' ? '/' : ''}`;
}

function textLine(e: Entry): string {
  if (e.kind === 'whiteout') return `${'whiteout'.padEnd(47)}${shown(e.path, false)}`;
  if (e.kind === 'opaque') return `${'opaque'.padEnd(47)}${shown(e.path, true)}`;
  const size = e.kind === 'file' ? e.size : e.kind === 'char' || e.kind === 'block' ? `${e.major},${e.minor}` : 0;
  const tail = e.kind === 'symlink' ? ` -> ${display(e.target)}` : e.kind === 'hardlink' ? ` link to /${display(e.target)}` : '';
  const x = e.meta.xattrs.size > 0 ? ` [xattrs: ${[...e.meta.xattrs.keys()].join(', ')}]` : '';
  return `${modeString(e.kind, e.meta.mode)} ${`${e.meta.uid}:${e.meta.gid}`.padEnd(11)} ${String(size).padStart(10)}  ${time(e.meta.mtime)}  ${shown(e.path, e.kind === 'dir')}${tail}${x}`;
}

function jsonEntry(e: Entry): Record<string, unknown> {
  const path = shown(e.path, false);
  const raw = isValidUtf8(e.path) ? {} : { pathHex: Buffer.from(e.path, 'latin1').toString('hex') };
  if (e.kind === 'whiteout' || e.kind === 'opaque') return { path, type: e.kind, ...raw };
  const o: Record<string, unknown> = { path, type: e.kind, mode: e.meta.mode, uid: e.meta.uid, gid: e.meta.gid, mtime: e.meta.mtime, ...raw };
  if (e.kind === 'file') o.size = e.size;
  if (e.kind === 'symlink') o.target = display(e.target);
  if (e.kind === 'hardlink') o.target = `/${display(e.target)}`;
  if (e.kind === 'char' || e.kind === 'block') Object.assign(o, { major: e.major, minor: e.minor });
  if (e.meta.xattrs.size > 0) o.xattrs = [...e.meta.xattrs.keys()];
  return o;
}

function layerHeader(l: ImageLayer): Record<string, unknown> {
  const h = l.history;
  return {
    index: l.index,
    ...(l.diffID ? { diffID: l.diffID } : {}),
    ...(l.digest ? { digest: l.digest } : {}),
    ...(l.mediaType ? { mediaType: l.mediaType } : {}),
    size: l.size,
    ...(h ? { history: { created: h.created, created_by: h.createdBy, comment: h.comment, author: h.author } } : {}),
  };
}

/** The listing, streamed: one layer's entries at a time, never a whole image in memory. */
async function* listing(layers: readonly ImageLayer[], json: boolean, header: Record<string, unknown>, onWarning?: (m: string) => void): AsyncGenerator<Buffer> {
  const { layerEntries } = await import('../image/layer-entries.js');
  const out = (s: string) => Buffer.from(s, 'utf8');
  if (json) yield out(`${JSON.stringify(header).slice(0, -1)},"layers":[`);
  else yield out(`${Object.values(header).join('  ')}\n\n`);
  for (const [n, l] of layers.entries()) {
    let measured: Measured | undefined;
    // Listed, never kept: the layer's chunks may be refilled (LayerReadOptions.volatile).
    const entries = layerEntries(l, { events: { onTar: (m) => (measured = m) }, volatile: true, ...(onWarning ? { onWarning } : {}) });
    if (json) {
      yield out(`${n > 0 ? ',' : ''}\n${JSON.stringify(layerHeader(l)).slice(0, -1)},"entries":[`);
      let first = true;
      for await (const e of entries) {
        yield out(`${first ? '' : ','}\n${JSON.stringify(jsonEntry(e))}`);
        first = false;
      }
      const m = measured as Measured | undefined;
      yield out(`],"uncompressedSize":${m?.size ?? 0},"computedDiffID":${JSON.stringify(m?.digest ?? null)}}`);
      continue;
    }
    const h = l.history;
    const head = [`layer ${l.index}`, l.diffID ? `diffID ${l.diffID}` : '', `${l.size} bytes${l.mediaType ? ` ${l.mediaType}` : ''}`].filter((x) => x);
    yield out(`${n > 0 ? '\n' : ''}${head.join('  ')}\n`);
    if (h?.createdBy) yield out(`  created_by: ${h.createdBy.replace(/\s+/g, ' ')}\n`);
    if (h?.comment) yield out(`  comment: ${h.comment}\n`);
    for await (const e of entries) yield out(`${textLine(e)}\n`);
    const m = measured as Measured | undefined;
    if (m && !l.diffID) yield out(`  diffID ${m.digest} (${m.size} bytes uncompressed)\n`);
  }
  if (json) yield out('\n]}\n');
}

export function lsCommand(report: Reporter): CommandModule<object, Args> {
  return {
    command: 'ls <inputs..>',
    describe: "list each layer's entries, whiteouts and opaque markers, with the history step that made it",
    builder: (y) =>
      withImageFlags(
        keepDash(y).positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'an image, or layer tars bottom first; - is standard input' }),
      )
        .option('layers', { type: 'string', describe: '<from>..<to>: only these layers (0 = bottom, inclusive)' })
        .option('json', { type: 'boolean', default: false, describe: 'one JSON document on stdout' })
        .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'no warnings on stderr' })
        .example('$0 ls image.tar', 'every layer, bottom first')
        .example('$0 ls oci-layout --json | jq ".layers[].entries[] | select(.type==\\"whiteout\\")"', 'just the deletions') as never,
    handler: async (a) => {
      checkInputs(a.inputs);
      // Imported here, not above: this module is loaded to define the flags on every run (SPEC.md §10).
      const [{ parseLayerRange, selectLayers }, { writeStdout }, { openImageFor }, { imageSummary }] = await Promise.all([
        import('../rootfs/select.js'),
        import('../io.js'),
        import('./open-image.js'),
        import('../image/image.js'),
      ]);
      const image = await openImageFor(a.inputs, a);
      try {
        const layers = selectLayers(image.layers, a.layers !== undefined ? parseLayerRange(a.layers) : {});
        const header = { ...imageSummary(image), ...(image.configDigest !== undefined ? { config: image.configDigest } : {}) };
        await writeStdout(listing(layers, a.json, header, a.quiet ? undefined : warn));
      } finally {
        await image.close();
      }
      report(0);
    },
  };
}
