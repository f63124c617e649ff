/**
 * "No existing output overwritten unless --force", and --force never reaching
 * through a symlink: the output path is the user's, but what sits there may
 * have been planted (a symlink to somewhere precious).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { failureProblems, flattenAvailable, runCli, runHosted, show, stopHosts, successProblems } from '../helpers/hostile-cli.js';
import { diffSnapshots, makeSandbox, snapshot } from '../helpers/hostile-fs.js';
import * as T from '../helpers/hostile-tar.js';

afterAll(() => stopHosts());

const LAYER = T.tar(T.file('new', 'new content'), T.file('.wh.gone'));

/** Sandbox with a layer file and a snapshot function of everything but `out`. */
function setup() {
  const sb = makeSandbox('whiteout-output-');
  const layer = path.join(sb.input, 'layer.tar');
  fs.writeFileSync(layer, LAYER);
  const outside = () => snapshot(sb.base, (rel) => rel === '' || rel === 'out' || rel.startsWith('out/'));
  return { sb, layer, outside };
}

describe('existing output', () => {
  it('unpack refuses a non-empty target without --force and leaves it as it was', async () => {
    const { sb, layer, outside } = setup();
    try {
      fs.mkdirSync(sb.target);
      fs.writeFileSync(path.join(sb.target, 'precious'), 'keep me');
      const before = snapshot(sb.base, (rel) => rel === '');
      const r = await runCli(['unpack', layer, '-o', sb.target]);
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(r.stderr).toMatch(/--force/);
      expect(diffSnapshots(before, snapshot(sb.base, (rel) => rel === ''))).toEqual([]);
      // With --force it is replaced, and nothing else moves.
      const outBefore = outside();
      const f = await runHosted(['unpack', layer, '-o', sb.target, '--force']);
      expect(successProblems(f), show(f)).toEqual([]);
      expect(fs.readdirSync(sb.target).sort()).toEqual(['gone', 'new']);
      expect(diffSnapshots(outBefore, outside())).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });

  it('unpack -o <symlink to the victim>: refused without --force; with --force the link is replaced, never followed', async () => {
    const { sb, layer, outside } = setup();
    try {
      fs.symlinkSync(sb.victim, sb.target);
      const before = outside();
      const r = await runHosted(['unpack', layer, '-o', sb.target]);
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(fs.lstatSync(sb.target).isSymbolicLink()).toBe(true);
      const f = await runHosted(['unpack', layer, '-o', sb.target, '--force']);
      expect(successProblems(f), show(f)).toEqual([]);
      expect(fs.lstatSync(sb.target).isDirectory()).toBe(true);
      expect(diffSnapshots(before, outside())).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });

  it('unpack -o <a regular file> is refused without --force', async () => {
    const { sb, layer } = setup();
    try {
      fs.writeFileSync(sb.target, 'a file');
      const r = await runHosted(['unpack', layer, '-o', sb.target]);
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(fs.readFileSync(sb.target, 'utf8')).toBe('a file');
    } finally {
      sb.cleanup();
    }
  });

  it('convert refuses an existing output file without --force; --force over a symlink replaces the link, not the victim', async () => {
    const { sb, layer, outside } = setup();
    try {
      fs.writeFileSync(sb.target, 'old output');
      const r = await runHosted(['convert', layer, '--to', 'overlay', '-o', sb.target]);
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(fs.readFileSync(sb.target, 'utf8')).toBe('old output');
      fs.rmSync(sb.target);
      fs.symlinkSync(path.join(sb.victim, 'secret'), sb.target);
      const before = outside();
      const n = await runHosted(['convert', layer, '--to', 'overlay', '-o', sb.target]);
      expect(failureProblems(n), show(n)).toEqual([]);
      const f = await runHosted(['convert', layer, '--to', 'overlay', '-o', sb.target, '--force']);
      expect(successProblems(f), show(f)).toEqual([]);
      expect(fs.lstatSync(sb.target).isFile()).toBe(true);
      expect(diffSnapshots(before, outside())).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });

  it.runIf(flattenAvailable())('flatten refuses a non-empty output directory without --force', async () => {
    const { sb, layer } = setup();
    try {
      fs.mkdirSync(sb.target);
      fs.writeFileSync(path.join(sb.target, 'precious'), 'keep me');
      const r = await runHosted(['flatten', layer, '-o', sb.target]);
      expect(failureProblems(r), show(r)).toEqual([]);
      expect(fs.readdirSync(sb.target)).toEqual(['precious']);
    } finally {
      sb.cleanup();
    }
  });
});
