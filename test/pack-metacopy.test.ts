/**
 * pack --lower against the kernel: an upper dir made with metacopy=on holds
 * files whose data is in a layer below (chmod, chown and rename copy up the
 * metadata only; a rename also records where the data is, in `redirect`).
 * Packed with the layers below, the layer must give back what the mount showed:
 * unpacked and mounted over the same lowers without metacopy, the merged tree
 * equals the one the metacopy mount showed. Without them, pack refuses in one
 * line. A chain too: a metacopy file over a metacopy file over the data.
 */
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as fsx from 'fs-xattr';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Difference, type TreeSnapshot, compareSnapshots, formatDifferences, kernelOverlayAvailable, snapshotDir, snapshotKernelMount } from '../src/conformance/index.js';
import { packLayer } from '../src/ops/pack.js';
import { unpackLayer } from '../src/ops/unpack.js';
import { concat, isRoot, tempDir } from './helpers/entries.js';
import { readOverlayDirSync } from '../src/overlay/dir-read.js';
import { parseRedirect } from '../src/overlay/lookup.js';
import { readTar } from '../src/tar/read.js';
import { runCli, show } from './helpers/hostile-cli.js';
import { fcParams } from './properties/harness.js';
import { skipUnless, type Why } from './helpers/hostile-priv.js';

const t = tempDir('whiteout-metacopy-');
afterAll(() => t.cleanup());

const METACOPY = 'trusted.overlay.metacopy';
const REDIRECT = 'trusted.overlay.redirect';

function sh(cmd: string, args: string[]): { ok: boolean; err: string } {
  const r = spawnSync(cmd, args);
  return { ok: r.status === 0, err: r.stderr.toString().trim().split('\n')[0] ?? '' };
}

/** Mount lowers (topmost first) and an upper with metacopy=on, run `fn` in the merged dir, unmount. */
async function withMetacopyMount<T>(lowers: string[], upper: string, fn: (merged: string) => T | Promise<T>): Promise<T> {
  const work = fs.mkdtempSync(path.join(t.dir, 'work-'));
  const merged = fs.mkdtempSync(path.join(t.dir, 'merged-'));
  fs.mkdirSync(upper, { recursive: true });
  const m = sh('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work},metacopy=on,redirect_dir=on`, merged]);
  if (!m.ok) throw new Error(`mount with metacopy=on: ${m.err}`);
  try {
    return await fn(merged);
  } finally {
    sh('umount', [merged]);
  }
}

let available: Why = { ok: false, reason: 'not checked' };

beforeAll(async () => {
  const k = await kernelOverlayAvailable();
  if (!k.ok) {
    available = k;
    return;
  }
  // A trial: does this kernel copy up metadata only?
  const lower = path.join(t.dir, 'probe-lower');
  fs.mkdirSync(lower);
  fs.writeFileSync(path.join(lower, 'f'), 'data');
  const upper = path.join(t.dir, 'probe-upper');
  try {
    await withMetacopyMount([lower], upper, (m) => fs.chmodSync(path.join(m, 'f'), 0o600));
    available = fs.existsSync(path.join(upper, 'f')) && fsx.listAttributesSync(path.join(upper, 'f')).includes(METACOPY) ? { ok: true } : { ok: false, reason: 'the kernel copied up the whole file under metacopy=on' };
  } catch (e) {
    available = { ok: false, reason: (e as Error).message };
  }
});

function makeLower(dir: string): void {
  fs.mkdirSync(path.join(dir, 'a'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'b'));
  fs.writeFileSync(path.join(dir, 'a/one'), 'hello one\n');
  fs.writeFileSync(path.join(dir, 'a/two'), crypto.randomBytes(3_000_000));
  fs.writeFileSync(path.join(dir, 'b/three'), 'three\n');
  fs.writeFileSync(path.join(dir, 'b/keep'), 'kept\n');
}

/** pack never exports the layer root (SPEC.md §7), so the root's metadata is the replay's own. */
const ROOT_NOT_EXPORTED = { rootMeta: true } as const;

/**
 * The differences between the mount's view and the replay, but for times a microsecond or two apart: the
 * kernel keeps nanoseconds, a tar the digits pack writes, and Node sets times from doubles.
 */
function differences(truth: TreeSnapshot, got: TreeSnapshot, labels: [string, string], links = true): Difference[] {
  return compareSnapshots(truth, got, labels, { ...ROOT_NOT_EXPORTED, links: !links }).filter(
    (d) => !(d.kind === 'field' && d.field === 'mtime' && Math.abs(Number(d.a) - Number(d.b)) <= 2e-6),
  );
}

async function packed(upper: string, lowers: string[]): Promise<Buffer> {
  const p = packLayer(upper, { lowers, scanThread: { startAfter: 0 } });
  return concat(p.stream);
}

/** The merged tree the packed layer gives over `lowers`, with no metacopy anywhere in it. */
async function replayed(tar: Buffer, lowers: string[], name: string, nonEmpty = true): Promise<TreeSnapshot> {
  const out = path.join(t.dir, `replay-${name}`);
  await unpackLayer((async function* () { yield tar; })(), out);
  if (nonEmpty) expect(fs.readdirSync(out).length).toBeGreaterThan(0);
  return snapshotKernelMount([out, ...lowers], { metacopy: true });
}

describe('pack --lower of an upper made with metacopy=on (kernel)', () => {
  it('packs the data from the layer below, and the layer replays what the mount showed', async (ctx) => {
    skipUnless(ctx, available, 'pack of metacopy files');
    const lower = path.join(t.dir, 'l1');
    makeLower(lower);
    const upper = path.join(t.dir, 'u1');
    const truth = await withMetacopyMount([lower], upper, async (m) => {
      fs.chmodSync(path.join(m, 'a/one'), 0o600);
      fs.chownSync(path.join(m, 'a/two'), 4321, 4321);
      fs.renameSync(path.join(m, 'b/three'), path.join(m, 'b/renamed'));
      fs.writeFileSync(path.join(m, 'b/new'), 'new\n');
      return snapshotDir(m);
    });
    // The kernel did what the test is about: data left below, a redirect for the renamed file.
    for (const f of ['a/one', 'a/two', 'b/renamed']) expect(fsx.listAttributesSync(path.join(upper, f)), f).toContain(METACOPY);
    expect(['/b/three', 'three']).toContain(fsx.getAttributeSync(path.join(upper, 'b/renamed'), REDIRECT).toString());

    // Without the layers below, the data is not there to pack.
    await expect(packed(upper, [])).rejects.toThrow(/metacopy.*--lower/);

    const tar = await packed(upper, [lower]);
    const got = await replayed(tar, [lower], 'one');
    const diffs = differences(truth, got, ['metacopy mount', 'packed layer over the lower']);
    expect(diffs, formatDifferences(diffs)).toEqual([]);
    // The renamed file's data, from its old place below.
    expect(tar.includes(Buffer.from('three\n'))).toBe(true);

    // The command line: the same layer with --lower, one line without.
    const out = path.join(t.dir, 'cli-layer.tar');
    const ok = await runCli(['pack', upper, '--lower', lower, '-o', out, '-q']);
    expect(ok.code, show(ok)).toBe(0);
    expect(fs.readFileSync(out).equals(tar)).toBe(true);
    const refused = await runCli(['pack', upper, '-o', path.join(t.dir, 'refused.tar')]);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toMatch(/a\/one.*metacopy.*--lower/);
    expect(fs.existsSync(path.join(t.dir, 'refused.tar'))).toBe(false);
  });

  it('follows a metacopy file over a metacopy file down to the data', async (ctx) => {
    skipUnless(ctx, available, 'pack of metacopy chains');
    const lower = path.join(t.dir, 'l2');
    makeLower(lower);
    const mid = path.join(t.dir, 'mid');
    await withMetacopyMount([lower], mid, (m) => {
      fs.chmodSync(path.join(m, 'a/one'), 0o640);
      fs.renameSync(path.join(m, 'a/two'), path.join(m, 'a/two-moved'));
    });
    expect(fsx.listAttributesSync(path.join(mid, 'a/one'))).toContain(METACOPY);
    const upper = path.join(t.dir, 'u2');
    const truth = await withMetacopyMount([mid, lower], upper, async (m) => {
      fs.chownSync(path.join(m, 'a/one'), 1111, 2222);
      fs.chmodSync(path.join(m, 'a/two-moved'), 0o604);
      return snapshotDir(m);
    });
    expect(fsx.listAttributesSync(path.join(upper, 'a/one'))).toContain(METACOPY);
    expect(fsx.listAttributesSync(path.join(upper, 'a/two-moved'))).toContain(METACOPY);

    // Only the data layer would do: the middle one holds metadata only.
    await expect(packed(upper, [mid])).rejects.toThrow(/no layer below shows a file/);

    const tar = await packed(upper, [mid, lower]);
    const got = await replayed(tar, [mid, lower], 'two');
    const diffs = differences(truth, got, ['metacopy mount', 'packed layer over the lowers']);
    expect(diffs, formatDifferences(diffs)).toEqual([]);
  });

  it('packs a renamed directory whole and opaque, with what it shows from the layer below', async (ctx) => {
    skipUnless(ctx, available, 'pack of renamed directories');
    const lower = path.join(t.dir, 'l3');
    makeLower(lower);
    fs.mkdirSync(path.join(lower, 'a/sub'));
    fs.writeFileSync(path.join(lower, 'a/sub/deep'), 'deep\n');
    fs.symlinkSync('../b/keep', path.join(lower, 'a/link'));
    fs.writeFileSync(path.join(lower, 'a/hl1'), 'linked\n');
    fs.linkSync(path.join(lower, 'a/hl1'), path.join(lower, 'a/hl2'));
    spawnSync('mkfifo', [path.join(lower, 'a/fifo')]);
    // A directory only the layer below has, inside the renamed one.
    fs.mkdirSync(path.join(lower, 'a/only/inner'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'a/only/inner/f'), 'only below\n');
    // A directory emptied, then replaced by a rename: what it held below must stay hidden.
    fs.mkdirSync(path.join(lower, 'c'));
    fs.writeFileSync(path.join(lower, 'c/old'), 'old\n');
    fs.mkdirSync(path.join(lower, 'd'));
    fs.writeFileSync(path.join(lower, 'd/dd'), 'dd\n');
    const upper = path.join(t.dir, 'u3');
    const truth = await withMetacopyMount([lower], upper, async (m) => {
      fs.renameSync(path.join(m, 'a'), path.join(m, 'a-moved'));
      fs.chmodSync(path.join(m, 'a-moved/one'), 0o600);
      fs.rmSync(path.join(m, 'a-moved/two'));
      fs.writeFileSync(path.join(m, 'a-moved/new'), 'new\n');
      fs.writeFileSync(path.join(m, 'a-moved/sub/added'), 'added\n');
      // Renamed inside a renamed directory: its redirect names it beside where it is below (in /a).
      fs.renameSync(path.join(m, 'a-moved/only'), path.join(m, 'a-moved/only2'));
      fs.mkdirSync(path.join(m, 'x'));
      fs.renameSync(path.join(m, 'b'), path.join(m, 'x/b2'));
      fs.renameSync(path.join(m, 'x/b2/three'), path.join(m, 'x/b2/three-moved'));
      fs.rmSync(path.join(m, 'c/old'));
      fs.renameSync(path.join(m, 'd'), path.join(m, 'c'));
      return snapshotDir(m);
    });
    expect(['/a', 'a']).toContain(fsx.getAttributeSync(path.join(upper, 'a-moved'), REDIRECT).toString());
    expect(fsx.getAttributeSync(path.join(upper, 'x/b2'), REDIRECT).toString()).toBe('/b');
    expect(fsx.listAttributesSync(path.join(upper, 'a-moved/one'))).toContain(METACOPY);
    expect(['/d', 'd']).toContain(fsx.getAttributeSync(path.join(upper, 'c'), REDIRECT).toString());
    expect(truth.nodes.has('c/old')).toBe(false);
    expect(truth.nodes.has('a-moved/only2/inner/f')).toBe(true);
    expect(fsx.getAttributeSync(path.join(upper, 'a-moved/only2'), REDIRECT).toString()).toBe('only');

    // Without the layers below, the directory's content is not there to pack.
    await expect(packed(upper, [])).rejects.toThrow(/a-moved.*redirect.*--lower/);

    const tar = await packed(upper, [lower]);
    const got = await replayed(tar, [lower], 'three');
    const diffs = differences(truth, got, ['metacopy mount', 'packed layer over the lower']);
    expect(diffs, formatDifferences(diffs)).toEqual([]);
  });

  it('follows a rename made in a layer below, as the kernel does', async (ctx) => {
    skipUnless(ctx, available, 'pack over a renamed directory below');
    const lower = path.join(t.dir, 'l4');
    makeLower(lower);
    const mid = path.join(t.dir, 'mid4');
    await withMetacopyMount([lower], mid, (m) => {
      fs.renameSync(path.join(m, 'b'), path.join(m, 'b2'));
      fs.renameSync(path.join(m, 'a'), path.join(m, 'b2/a-in'));
    });
    const upper = path.join(t.dir, 'u4');
    const truth = await withMetacopyMount([mid, lower], upper, async (m) => {
      // Renamed again (its content is two renames away), and a metacopy file reached through a rename below.
      fs.renameSync(path.join(m, 'b2'), path.join(m, 'b3'));
      fs.chmodSync(path.join(m, 'b3/a-in/one'), 0o611);
      return snapshotDir(m);
    });
    expect(['/b2', 'b2']).toContain(fsx.getAttributeSync(path.join(upper, 'b3'), REDIRECT).toString());
    const tar = await packed(upper, [mid, lower]);
    const got = await replayed(tar, [mid, lower], 'four');
    const diffs = differences(truth, got, ['metacopy mount', 'packed layer over the lowers']);
    expect(diffs, formatDifferences(diffs)).toEqual([]);
    expect(truth.nodes.has('b3/a-in/two')).toBe(true);
  });

  it('replays what the mount showed after any run of chmod, chown, rename, rm, write, create and mkdir (property)', async (ctx) => {
    skipUnless(ctx, available, 'pack of metacopy stacks, property');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 8 }), async (ops) => {
        const base = path.join(t.dir, `prop-${n++}`);
        const lower = makePropLower(base);
        const upper = path.join(base, 'upper');
        const truth = await withMetacopyMount([lower], upper, (m) => {
          applyOps(m, ops);
          return snapshotDir(m);
        });
        const tar = await packed(upper, [lower]);
        const got = await replayed(tar, [lower], `prop-${n}`, false);
        // Not hard-link identity: a file of a renamed directory is the lower file itself in the mount, so it
        // shares an inode with its other names below, which no layer can say (the layer holds a copy; SPEC.md §7).
        const diffs = differences(truth, got, ['metacopy mount', 'packed layer over the lower'], false);
        expect(diffs, `${JSON.stringify(ops)}\n${formatDifferences(diffs)}`).toEqual([]);
        fs.rmSync(base, { recursive: true, force: true });
      }),
      fcParams(60),
    );
  }, 600_000);

  it('does the same over a stack whose middle layer a metacopy mount made too, renames and all (property)', async (ctx) => {
    skipUnless(ctx, available, 'pack of two-layer metacopy stacks, property');
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 6 }), fc.array(opArb, { minLength: 1, maxLength: 6 }), async (first, second) => {
        const base = path.join(t.dir, `prop2-${n++}`);
        const lower = makePropLower(base);
        const mid = path.join(base, 'mid');
        await withMetacopyMount([lower], mid, (m) => applyOps(m, first));
        const upper = path.join(base, 'upper');
        const truth = await withMetacopyMount([mid, lower], upper, (m) => {
          applyOps(m, second);
          return snapshotDir(m);
        });
        const tar = await packed(upper, [mid, lower]);
        const got = await replayed(tar, [mid, lower], `prop2-${n}`, false);
        const diffs = differences(truth, got, ['metacopy mount', 'packed layer over the lowers'], false);
        expect(diffs, `${JSON.stringify([first, second])}\n${formatDifferences(diffs)}`).toEqual([]);
        fs.rmSync(base, { recursive: true, force: true });
      }),
      fcParams(40),
    );
  }, 600_000);
});

/** One change, its paths picked at run time among what the mount shows then. */
type Op =
  | { op: 'chmod' | 'chown' | 'touch' | 'rm' | 'write'; at: number }
  | { op: 'rename'; at: number; into: number; name: string }
  | { op: 'create' | 'mkdir'; into: number; name: string };

const opName = fc.constantFrom('n1', 'n2', 'x', 'f0', 'd1');
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constantFrom('chmod', 'chown', 'touch', 'rm', 'write') as fc.Arbitrary<'chmod'>, at: fc.nat() }),
  { weight: 3, arbitrary: fc.record({ op: fc.constant('rename' as const), at: fc.nat(), into: fc.nat(), name: opName }) },
  fc.record({ op: fc.constantFrom('create', 'mkdir') as fc.Arbitrary<'create'>, into: fc.nat(), name: opName }),
);

/** The layer the properties start from: nested directories, files, a symlink, two hard-linked names. */
function makePropLower(base: string): string {
  const lower = path.join(base, 'lower');
  fs.mkdirSync(path.join(lower, 'd0/s0/s1'), { recursive: true });
  fs.mkdirSync(path.join(lower, 'd1'));
  fs.mkdirSync(path.join(lower, 'd2/e'), { recursive: true });
  for (const [f, data] of [['d0/f0', 'zero\n'], ['d0/s0/f1', 'one\n'], ['d0/s0/s1/f2', 'two\n'], ['d1/f3', 'three\n'], ['d2/e/f4', 'four\n'], ['top', 'top\n']] as const) {
    fs.writeFileSync(path.join(lower, f), data);
  }
  fs.symlinkSync('../d1/f3', path.join(lower, 'd0/link'));
  fs.linkSync(path.join(lower, 'd1/f3'), path.join(lower, 'd2/hard'));
  return lower;
}

/** Run `ops` in the mounted tree `m`; an op the kernel refuses (a dir into itself, over a non-empty dir…) changes nothing. */
function applyOps(m: string, ops: readonly Op[]): void {
  const all = () => listTree(m);
  const dirs = () => ['', ...all().filter((p) => fs.lstatSync(path.join(m, p)).isDirectory())];
  const pick = (list: string[], i: number) => list[i % list.length] as string;
  for (const o of ops) {
    try {
      if (o.op === 'create' || o.op === 'mkdir') {
        const target = path.join(m, pick(dirs(), o.into), o.name);
        if (o.op === 'mkdir') fs.mkdirSync(target);
        else fs.writeFileSync(target, `new ${o.name}\n`);
        continue;
      }
      const list = all();
      if (list.length === 0) continue;
      const p = path.join(m, pick(list, o.at));
      if (o.op === 'chmod') fs.chmodSync(p, 0o700);
      else if (o.op === 'chown') fs.lchownSync(p, 1000, 1000);
      else if (o.op === 'touch') fs.lutimesSync(p, 1_600_000_000, 1_600_000_000);
      else if (o.op === 'rm') fs.rmSync(p, { recursive: true });
      else if (o.op === 'write') fs.appendFileSync(p, 'more\n');
      else fs.renameSync(p, path.join(m, pick(dirs(), o.into), o.name));
    } catch {
      // Refused by the kernel: nothing changed.
    }
  }
}

describe('pack --lower and opaque markers (kernel)', () => {
  it('writes a marker only where the layers below show a directory to hide', async (ctx) => {
    const k = await kernelOverlayAvailable();
    skipUnless(ctx, k, 'opaque markers with the layers below');
    const lower = path.join(t.dir, 'op-lower');
    makeLower(lower);
    const upper = path.join(t.dir, 'op-upper');
    const truth = await withMetacopyMount([lower], upper, async (m) => {
      // A file replaced by a directory (made where the kernel put a whiteout: marked opaque, hiding nothing),
      // and a directory replaced by one (its marker hides what was below).
      fs.rmSync(path.join(m, 'b/keep'));
      fs.mkdirSync(path.join(m, 'b/keep'));
      fs.writeFileSync(path.join(m, 'b/keep/in'), 'in\n');
      fs.rmSync(path.join(m, 'a'), { recursive: true });
      fs.mkdirSync(path.join(m, 'a'));
      fs.writeFileSync(path.join(m, 'a/fresh'), 'fresh\n');
      return snapshotDir(m);
    });
    expect(fsx.getAttributeSync(path.join(upper, 'b/keep'), 'trusted.overlay.opaque').toString()).toBe('y');
    expect(fsx.getAttributeSync(path.join(upper, 'a'), 'trusted.overlay.opaque').toString()).toBe('y');
    const markers = async (tar: Buffer) => {
      const found: string[] = [];
      for await (const e of readTar((async function* () { yield tar; })())) if (e.header.name.endsWith('.wh..wh..opq')) found.push(e.header.name);
      return found.sort();
    };
    // Without the layers below: both markers. With them: only the one that hides something.
    expect(await markers(await concat(packLayer(upper).stream))).toEqual(['a/.wh..wh..opq', 'b/keep/.wh..wh..opq']);
    const tar = await packed(upper, [lower]);
    expect(await markers(tar)).toEqual(['a/.wh..wh..opq']);
    const got = await replayed(tar, [lower], 'opaque');
    const diffs = differences(truth, got, ['mount', 'packed layer over the lower']);
    expect(diffs, formatDifferences(diffs)).toEqual([]);
  });
});

describe('redirect values', () => {
  it('are a clean absolute path or one name, and nothing else is followed', () => {
    expect(parseRedirect('/a/b')).toEqual({ absolute: 'a/b' });
    expect(parseRedirect('//a')).toEqual({ absolute: 'a' });
    expect(parseRedirect('b')).toEqual({ name: 'b' });
    for (const bad of ['', '/', '..', '.', '/../etc', '/a/../../etc', '/a//b', '/a/./b', 'a/b', '../x', 'a\0b']) expect(parseRedirect(bad), JSON.stringify(bad)).toBeUndefined();
  });
});

describe('pack --lower of a renamed directory, made by hand', () => {
  it('refuses a real .wh. file the layer below would put in it, as for its own files', (ctx) => {
    skipUnless(ctx, isRoot ? { ok: true } : { ok: false, reason: 'not root: cannot set trusted.overlay.* xattrs' }, 'a .wh. name below');
    const lower = path.join(t.dir, 'hand-lower');
    fs.mkdirSync(path.join(lower, 'a'), { recursive: true });
    fs.writeFileSync(path.join(lower, 'a/.wh.x'), 'a real file');
    const upper = path.join(t.dir, 'hand-upper');
    fs.mkdirSync(path.join(upper, 'b'), { recursive: true });
    fsx.setAttributeSync(path.join(upper, 'b'), REDIRECT, Buffer.from('/a'));
    expect(() => [...readOverlayDirSync(upper, { userxattr: false, aufs: false, what: 'upper', lowers: [lower] })]).toThrow(/'b\/\.wh\.x'.*'a\/\.wh\.x' of layer 1 below.*cannot hold/);
  });

  it('never follows a redirect out of the layers, in this layer or below', (ctx) => {
    skipUnless(ctx, isRoot ? { ok: true } : { ok: false, reason: 'not root: cannot set trusted.overlay.* xattrs' }, 'hostile redirects');
    const outside = path.join(t.dir, 'outside-secret');
    fs.mkdirSync(outside, { recursive: true });
    fs.writeFileSync(path.join(outside, 'secret'), 'do not pack me');
    const lower = path.join(t.dir, 'hostile-lower');
    fs.mkdirSync(path.join(lower, 'd'), { recursive: true });
    const upper = path.join(t.dir, 'hostile-upper');
    fs.mkdirSync(path.join(upper, 'e'), { recursive: true });
    const escape = `/../${path.relative(path.dirname(lower), outside)}`;
    fsx.setAttributeSync(path.join(upper, 'e'), REDIRECT, Buffer.from(escape));
    const read = () => [...readOverlayDirSync(upper, { userxattr: false, aufs: false, what: 'upper', lowers: [lower] })];
    expect(read).toThrow(/'e'.*redirect that is neither a clean absolute path nor one name/);
    // The same in the layer below, reached through a clean one above.
    fsx.setAttributeSync(path.join(upper, 'e'), REDIRECT, Buffer.from('/d'));
    fsx.setAttributeSync(path.join(lower, 'd'), REDIRECT, Buffer.from(escape));
    expect(read).toThrow(/redirect that is neither a clean absolute path nor one name/);
  });
});

/** Every path under `root`, sorted, relative. */
function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(root, rel)).sort()) {
      const p = rel === '' ? name : `${rel}/${name}`;
      out.push(p);
      if (fs.lstatSync(path.join(root, p)).isDirectory()) walk(p);
    }
  };
  walk('');
  return out;
}
