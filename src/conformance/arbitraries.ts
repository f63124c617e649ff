/**
 * fast-check arbitraries for layer stacks, and their serialisation as OCI
 * layer tars through tar-stream (not through whiteout's own writer, so the
 * inputs do not share a bug with the code that reads them).
 *
 * The name universe is deliberately tiny (files a, b, c; directories d1, d2;
 * depth up to 3) so that layers keep colliding: a whiteout usually names
 * something below, a file often lands where a directory was, an entry often
 * needs a parent no entry gave.
 */
import fc from 'fast-check';
import tarStream from 'tar-stream';
import { type LayerOp, type LayerSpec, type SpecMeta, opPath } from './model.js';

export interface LayerStackOptions {
  /** Layers per stack, at least 1 (default 4). */
  maxLayers?: number;
  /** Operations drawn per layer before duplicates are dropped (default 8). */
  maxOps?: number;
  /** Also use a non-ASCII name (é, as UTF-8 bytes) and a 120-byte name (PAX paths). Default true. */
  oddNames?: boolean;
  /** Draw xattrs (user.* only: the only namespace a rootless mount can carry). Default true. */
  xattrs?: boolean;
  /**
   * Also draw `user.overlay.*` xattr names as image content. They must be
   * escaped in an overlay layer, and show unescaped only in a mount whose
   * active namespace is user.*. Default false.
   */
  overlayXattrNames?: boolean;
  /** Also draw FIFOs and character/block devices (never 0/0). Creating them needs root. Default false. */
  nodes?: boolean;
  /** Allow a root directory entry (`./`) that sets the root's metadata. Default true. */
  rootEntry?: boolean;
  /**
   * Keep an opaque marker for a directory below a non-directory the same
   * layer adds (`d1` a file, `d1/d2/.wh..wh..opq`). Such a layer contradicts
   * itself. Default false.
   */
  opaqueUnderNonDir?: boolean;
}

const DIRS = ['d1', 'd2'];
const LEAVES = ['a', 'b', 'c'];
/** 'é' as a byte string (its UTF-8 bytes, one char each). */
const E_ACUTE = Buffer.from('é', 'utf8').toString('latin1');
const LONG = `long-${'x'.repeat(115)}`;

/** The paths of each depth (1 to 3). */
function universe(odd: boolean): string[][] {
  const last = [...LEAVES, ...DIRS, ...(odd ? [E_ACUTE, LONG] : [])];
  const byDepth: string[][] = [[], [], []];
  const walk = (prefix: string, depth: number) => {
    for (const n of last) byDepth[depth - 1]?.push(prefix === '' ? n : `${prefix}/${n}`);
    if (depth < 3) for (const d of DIRS) walk(prefix === '' ? d : `${prefix}/${d}`, depth + 1);
  };
  walk('', 1);
  return byDepth;
}

/**
 * Shallow paths are drawn more often: there are fewer of them, so layers hit
 * the same ones and interact (a whiteout of `d1` meets a `d1/` below), while
 * deep ones still give implied parents.
 */
function pathArb(byDepth: string[][], onlyDirNames = false): fc.Arbitrary<string> {
  const keep = (ps: string[]) => (onlyDirNames ? ps.filter((p) => DIRS.includes(p.slice(p.lastIndexOf('/') + 1))) : ps);
  const [d1 = [], d2 = [], d3 = []] = byDepth.map(keep);
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...d1) },
    { weight: 3, arbitrary: fc.constantFrom(...d2) },
    { weight: 1, arbitrary: fc.constantFrom(...d3) },
  );
}

// No mode 0: tar-stream silently writes 0644/0755 for it.
const FILE_MODES = [0o644, 0o755, 0o600, 0o444, 0o4755, 0o2755, 0o200, 0o1644];
const DIR_MODES = [0o755, 0o700, 0o1777, 0o2775, 0o555, 0o750];
const IDS = [0, 1, 1000, 65534];
const LINK_TARGETS = ['a', '../a', 'd1/a', '/etc/x', '../../..', '.', '/', 'd2', `../${E_ACUTE}`];
const XATTR_TEXT = ['v', 'text with spaces', 'ü', '\u0000\u0001\n=x', '\u{1F600}', 'a'.repeat(40)];

function mtimeArb(): fc.Arbitrary<number> {
  // Integers only; below 2^31 because tar-stream writes mtime as a 32-bit int.
  return fc.oneof(fc.constantFrom(0, 1, 1234567890, 2147483647), fc.integer({ min: 0, max: 2 ** 31 - 1 }));
}

function xattrsArb(opts: LayerStackOptions): fc.Arbitrary<Record<string, Buffer> | undefined> {
  if (opts.xattrs === false) return fc.constant(undefined);
  const names = ['user.a', 'user.b', 'user.mime_type', ...(opts.overlayXattrNames ? ['user.overlay.opaque', 'user.overlay.x'] : [])];
  // Non-empty values: an empty PAX value means "unset" in POSIX, which readers treat differently.
  const value = fc
    .oneof(fc.constantFrom(...XATTR_TEXT), fc.string({ unit: 'binary', minLength: 1, maxLength: 6 }))
    .map((s) => Buffer.from(s, 'utf8'));
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...names), value, { maxKeys: 2, minKeys: 1 }) },
  );
}

function metaArb(modes: number[], xattrs: fc.Arbitrary<Record<string, Buffer> | undefined>): fc.Arbitrary<SpecMeta> {
  return fc.record({ mode: fc.constantFrom(...modes), uid: fc.constantFrom(...IDS), gid: fc.constantFrom(...IDS), mtime: mtimeArb(), xattrs }).map((m) => {
    const out: SpecMeta = { mode: m.mode, uid: m.uid, gid: m.gid, mtime: m.mtime };
    if (m.xattrs) out.xattrs = m.xattrs;
    return out;
  });
}

/** A hardlink is drawn with an index into the files before it; fixLayer resolves it. */
type Draft = LayerOp | { op: 'hardlink-draft'; path: string; pick: number };

function draftArb(opts: LayerStackOptions, paths: string[][]): fc.Arbitrary<Draft> {
  const path = pathArb(paths);
  const x = xattrsArb(opts);
  const content = fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ minLength: 1, maxLength: 16 }).map((u) => Buffer.from(u)));
  const arbs: fc.WeightedArbitrary<Draft>[] = [
    { weight: 5, arbitrary: fc.tuple(path, content, metaArb(FILE_MODES, x)).map(([p, c, m]): Draft => ({ op: 'file', path: p, content: c, ...m })) },
    { weight: 4, arbitrary: fc.tuple(path, metaArb(DIR_MODES, x)).map(([p, m]): Draft => ({ op: 'dir', path: p, ...m })) },
    {
      weight: 2,
      // No xattrs on symlinks: Linux refuses user.* xattrs there.
      arbitrary: fc.tuple(path, fc.constantFrom(...LINK_TARGETS), metaArb([0o777], fc.constant(undefined))).map(([p, t, m]): Draft => ({ op: 'symlink', path: p, target: t, ...m })),
    },
    { weight: 2, arbitrary: fc.tuple(path, fc.nat({ max: 7 })).map(([p, pick]): Draft => ({ op: 'hardlink-draft', path: p, pick })) },
    { weight: 4, arbitrary: path.map((p): Draft => ({ op: 'whiteout', path: p })) },
    // Opaque markers mostly on the directory names, where something below usually is.
    { weight: 2, arbitrary: fc.oneof({ weight: 4, arbitrary: pathArb(paths, true) }, { weight: 1, arbitrary: path }).map((p): Draft => ({ op: 'opaque', dir: p })) },
  ];
  if (opts.nodes) {
    const kind = fc.constantFrom<'char' | 'block' | 'fifo'>('char', 'block', 'fifo');
    // Never 0/0, which would read as a whiteout; at most 6 octal digits, all tar-stream writes.
    const numbers = fc.constantFrom<[number, number]>([1, 3], [7, 0], [0, 1], [4095, 262143]);
    arbs.push({
      weight: 1,
      arbitrary: fc.tuple(path, kind, numbers, metaArb([0o600, 0o666, 0o644], fc.constant(undefined))).map(
        ([p, k, [major, minor], m]): Draft => ({ op: 'node', path: p, kind: k, major: k === 'fifo' ? 0 : major, minor: k === 'fifo' ? 0 : minor, ...m }),
      ),
    });
  }
  if (opts.rootEntry !== false) {
    arbs.push({ weight: 1, arbitrary: metaArb(DIR_MODES, x).map((m): Draft => ({ op: 'dir', path: '', ...m })) });
  }
  return fc.oneof(...arbs);
}

function isBelow(p: string, dir: string): boolean {
  return dir === '' ? p !== '' : p.startsWith(`${dir}/`);
}

const isContent = (op: LayerOp): boolean => op.op === 'file' || op.op === 'dir' || op.op === 'symlink' || op.op === 'node' || op.op === 'hardlink';

/**
 * Files a hardlink at `path` may point to, given the entries before it: still
 * present (not replaced since by a non-directory above them, nor turned into
 * an implied directory by an entry below them), and neither above nor below
 * `path` (making the link would remove them).
 */
function linkable(before: readonly LayerOp[], path: string): (LayerOp & { op: 'file' })[] {
  const replaces = (later: LayerOp, p: string) => isContent(later) && ((later.op !== 'dir' && isBelow(p, opPath(later))) || isBelow(opPath(later), p));
  const out: (LayerOp & { op: 'file' })[] = [];
  before.forEach((o, i) => {
    if (o.op !== 'file' || before.slice(i + 1).some((later) => replaces(later, o.path))) return;
    if (o.path === path || isBelow(o.path, path) || isBelow(path, o.path)) return;
    out.push(o);
  });
  return out;
}

/**
 * Make a drawn layer a valid tar: one entry per name, hardlinks only to an
 * earlier file of the layer that is still there when the link comes (and
 * never above or below the link's own path), no opaque marker on a
 * path the layer adds as a non-directory.
 */
export function fixLayer(drafts: readonly Draft[], opts: LayerStackOptions = {}): LayerSpec {
  const out: LayerOp[] = [];
  const contentPaths = new Set<string>();
  const whiteouts = new Set<string>();
  const opaque = new Set<string>();
  for (const d of drafts) {
    if (d.op === 'whiteout') {
      if (!whiteouts.has(d.path)) out.push(d);
      whiteouts.add(d.path);
      continue;
    }
    if (d.op === 'opaque') {
      if (!opaque.has(d.dir)) out.push(d);
      opaque.add(d.dir);
      continue;
    }
    const path = d.path;
    if (contentPaths.has(path)) continue;
    if (d.op === 'hardlink') {
      // An already resolved link (a layer being fixed again after filtering) stays only if its target still qualifies.
      if (!linkable(out, path).some((o) => o.path === d.target)) continue;
      out.push(d);
    } else if (d.op === 'hardlink-draft') {
      const candidates = linkable(out, path);
      if (candidates.length === 0) continue;
      const t = candidates[d.pick % candidates.length] as LayerOp & { op: 'file' };
      out.push({ op: 'hardlink', path, target: t.path });
    } else {
      out.push(d);
    }
    contentPaths.add(path);
  }
  const nonDirs = out.filter((o) => isContent(o) && o.op !== 'dir').map(opPath);
  return out.filter((o) => {
    if (o.op !== 'opaque') return true;
    if (nonDirs.includes(o.dir)) return false;
    if (!opts.opaqueUnderNonDir && nonDirs.some((n) => isBelow(o.dir, n))) return false;
    return true;
  });
}

/** One layer. */
export function layerSpec(opts: LayerStackOptions = {}): fc.Arbitrary<LayerSpec> {
  const paths = universe(opts.oddNames !== false);
  // size 'max': lengths spread over the whole range, not bunched near zero.
  return fc.array(draftArb(opts, paths), { maxLength: opts.maxOps ?? 8, size: 'max' }).map((ds) => fixLayer(ds, opts));
}

/** A stack of layers, bottom first. */
export function layerStack(opts: LayerStackOptions = {}): fc.Arbitrary<LayerSpec[]> {
  return fc.array(layerSpec(opts), { minLength: 1, maxLength: Math.max(1, opts.maxLayers ?? 4) });
}

// ---- tars ---------------------------------------------------------------------

/** Byte string → the text tar-stream wants (it writes names as UTF-8). */
function utf8Text(bytes: string, what: string): string {
  const b = Buffer.from(bytes, 'latin1');
  const text = b.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(b)) throw new Error(`${what}: not valid UTF-8, which tar-stream cannot write`);
  return text;
}

function paxOf(m: SpecMeta, what: string): Record<string, string> | undefined {
  const entries = Object.entries(m.xattrs ?? {});
  if (entries.length === 0) return undefined;
  const pax: Record<string, string> = {};
  for (const [k, v] of entries) {
    const text = v.toString('utf8');
    // tar-stream writes PAX values as UTF-8 text; a value that is not UTF-8 would change.
    if (!Buffer.from(text, 'utf8').equals(v)) throw new Error(`${what}: xattr ${k} is not valid UTF-8, which tar-stream cannot write`);
    pax[`SCHILY.xattr.${k}`] = text;
  }
  return pax;
}

function markerName(dir: string, base: string): string {
  return dir === '' ? base : `${dir}/${base}`;
}

function parentAndBase(p: string): [string, string] {
  const i = p.lastIndexOf('/');
  return i < 0 ? ['', p] : [p.slice(0, i), p.slice(i + 1)];
}

type Header = Parameters<ReturnType<typeof tarStream.pack>['entry']>[0];

function headerOf(op: LayerOp): { header: Header; body?: Buffer } {
  const meta = (m: SpecMeta, what: string) => {
    const h: Header = { name: '', mode: m.mode, uid: m.uid, gid: m.gid, mtime: new Date(m.mtime * 1000) };
    const pax = paxOf(m, what);
    if (pax) h.pax = pax;
    return h;
  };
  const zero = { mode: 0o644, uid: 0, gid: 0, mtime: new Date(0) };
  switch (op.op) {
    case 'file':
      return { header: { ...meta(op, op.path), name: utf8Text(op.path, op.path), type: 'file', size: op.content.length }, body: op.content };
    case 'dir':
      return { header: { ...meta(op, op.path), name: op.path === '' ? './' : `${utf8Text(op.path, op.path)}/`, type: 'directory' } };
    case 'symlink':
      return { header: { ...meta(op, op.path), name: utf8Text(op.path, op.path), type: 'symlink', linkname: utf8Text(op.target, op.path) } };
    case 'node':
      return {
        header: {
          ...meta(op, op.path),
          name: utf8Text(op.path, op.path),
          type: op.kind === 'fifo' ? 'fifo' : op.kind === 'char' ? 'character-device' : 'block-device',
          devmajor: op.major,
          devminor: op.minor,
        },
      };
    case 'hardlink':
      return { header: { ...zero, name: utf8Text(op.path, op.path), type: 'link', linkname: utf8Text(op.target, op.path) } };
    case 'whiteout': {
      const [dir, base] = parentAndBase(op.path);
      return { header: { ...zero, name: utf8Text(markerName(dir, `.wh.${base}`), op.path), type: 'file', size: 0 }, body: Buffer.alloc(0) };
    }
    case 'opaque':
      return { header: { ...zero, name: utf8Text(markerName(op.dir, '.wh..wh..opq'), op.dir), type: 'file', size: 0 }, body: Buffer.alloc(0) };
  }
}

/** One layer as an uncompressed OCI layer tar, written by tar-stream. */
export async function layerToTar(layer: LayerSpec): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const op of layer) {
    const { header, body } = headerOf(op);
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) pack.entry(header, body, cb);
      else pack.entry(header, cb); // no body: tar-stream finishes the entry itself
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Every layer of a stack as a tar, bottom first. */
export async function stackToTars(stack: readonly LayerSpec[]): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for (const layer of stack) out.push(await layerToTar(layer));
  return out;
}
