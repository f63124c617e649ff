/**
 * Interrupted runs. A layer with one large file is fed slowly through a pipe
 * to a real CLI process; once its work is visibly under way it gets SIGINT,
 * SIGTERM or SIGKILL. After SIGINT/SIGTERM nothing may remain: no target, no
 * sibling temp dir, no spooled stdin. After SIGKILL (which no process can
 * catch) the target must still not exist — a leftover `.out.whiteout-*` temp
 * dir is the accepted price, and is removed here by the test.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, REPO } from '../helpers/hostile-cli.js';
import { flattenWhy, skipUnless } from '../helpers/hostile-priv.js';
import { makeSandbox } from '../helpers/hostile-fs.js';
import * as T from '../helpers/hostile-tar.js';

const FILE_SIZE = 64 << 20;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Write the layer a chunk at a time until the child exits; never the whole file (the child must be mid-way). */
async function feed(child: ChildProcess, exited: () => boolean, ended: Promise<unknown>): Promise<void> {
  const stdin = child.stdin!;
  stdin.on('error', () => {});
  // A child that dies with a full pipe never drains it: stop waiting when it ends.
  const write = (b: Buffer) =>
    Promise.race([
      ended,
      new Promise<void>((resolve) => {
        if (stdin.destroyed || exited()) return resolve();
        if (stdin.write(b)) resolve();
        else stdin.once('drain', resolve);
      }),
    ]);
  await write(T.header({ name: 'big', size: FILE_SIZE }));
  const chunk = Buffer.alloc(64 << 10, 0x62);
  for (let sent = 0; sent < FILE_SIZE - chunk.length && !exited(); sent += chunk.length) {
    await write(chunk);
    await sleep(2);
  }
}

/**
 * Start `args` with the layer on stdin, wait until `started()` says the work
 * is under way, send `sig`, and wait for the end.
 */
async function interrupt(args: string[], env: NodeJS.ProcessEnv, started: () => boolean, sig: NodeJS.Signals): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let done = false;
  const err: Buffer[] = [];
  child.stderr!.on('data', (b: Buffer) => err.push(b));
  child.stdout!.resume();
  const ended = new Promise<Run>((resolve) => child.on('close', (code, signal) => ((done = true), resolve({ code, signal, stderr: Buffer.concat(err).toString() }))));
  const feeding = feed(child, () => done, ended);
  const deadline = Date.now() + 30_000; // a guard against a hang, not a timing assertion
  while (!started() && !done && Date.now() < deadline) await sleep(10);
  const wasStarted = started();
  if (!done) child.kill(sig);
  const r = await ended;
  await feeding;
  stdin_end(child);
  if (!wasStarted) throw new Error(`the run never got under way: ${r.stderr}`);
  return r;
}

/** Some file at or one level below `dir/<prefix>*` already holds data: the run is under way, not just started. */
function grown(dir: string, prefix: string): boolean {
  for (const n of tempDirs(dir, prefix)) {
    const p = path.join(dir, n);
    try {
      const st = fs.statSync(p);
      if (st.isFile() && st.size > 0) return true;
      if (st.isDirectory()) for (const m of fs.readdirSync(p)) if (fs.statSync(path.join(p, m)).size > 0 && fs.statSync(path.join(p, m)).isFile()) return true;
    } catch {
      // it went away between readdir and stat
    }
  }
  return false;
}

function stdin_end(child: ChildProcess): void {
  child.stdin?.destroy();
}

const tempDirs = (dir: string, prefix: string) => fs.readdirSync(dir).filter((n) => n.startsWith(prefix));

/** Checks for a caught signal: exit 128+n, one line saying so, nothing left. */
function caughtProblems(r: Run, sig: NodeJS.Signals): string[] {
  const p: string[] = [];
  const want = sig === 'SIGINT' ? 130 : 143;
  if (r.code !== want) p.push(`exit ${r.code} (signal ${r.signal}), expected ${want}`);
  const lines = r.stderr.split('\n').filter((l) => l && !l.startsWith('whiteout: warning: '));
  if (lines.length !== 1 || !lines[0]!.startsWith('whiteout: ')) p.push(`stderr is not one 'whiteout: ' line: ${JSON.stringify(r.stderr)}`);
  if (/^\s+at /m.test(r.stderr)) p.push('stack trace on stderr');
  return p;
}

describe('signals in the middle of a big unpack from a pipe', () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`unpack: ${sig} removes the temp dir and leaves no target`, { timeout: 60_000 }, async () => {
      const sb = makeSandbox('whiteout-signal-');
      try {
        const started = () => tempDirs(sb.base, '.out.whiteout-').some((d) => fs.existsSync(path.join(sb.base, d, 'root', 'big')));
        const r = await interrupt(['unpack', '-', '-o', sb.target], { TMPDIR: sb.tmp }, started, sig);
        expect(caughtProblems(r, sig)).toEqual([]);
        expect(r.stderr).toMatch(/interrupted/);
        expect(fs.existsSync(sb.target)).toBe(false);
        expect(tempDirs(sb.base, '.out.')).toEqual([]);
        expect(fs.readdirSync(sb.tmp)).toEqual([]);
      } finally {
        sb.cleanup();
      }
    });
  }

  it('unpack: SIGKILL leaves no target (a leftover .out.whiteout-* temp dir is accepted)', { timeout: 60_000 }, async () => {
    const sb = makeSandbox('whiteout-signal-');
    try {
      const started = () => tempDirs(sb.base, '.out.whiteout-').some((d) => fs.existsSync(path.join(sb.base, d, 'root', 'big')));
      const r = await interrupt(['unpack', '-', '-o', sb.target], {}, started, 'SIGKILL');
      expect(r.signal).toBe('SIGKILL');
      expect(fs.existsSync(sb.target), 'a target that looks complete after kill -9').toBe(false);
      const left = tempDirs(sb.base, '.out.whiteout-');
      if (left.length) console.warn(`after SIGKILL, left behind (accepted, removed by the test): ${left.join(', ')}`);
      expect(tempDirs(sb.base, '.out.').every((n) => n.startsWith('.out.whiteout-'))).toBe(true);
    } finally {
      sb.cleanup();
    }
  });

  it('unpack --force over an existing layer: SIGINT keeps the old one in place', { timeout: 60_000 }, async () => {
    const sb = makeSandbox('whiteout-signal-');
    try {
      fs.mkdirSync(sb.target);
      fs.writeFileSync(path.join(sb.target, 'old'), 'old layer');
      const started = () => tempDirs(sb.base, '.out.whiteout-').some((d) => fs.existsSync(path.join(sb.base, d, 'root', 'big')));
      const r = await interrupt(['unpack', '-', '-o', sb.target, '--force'], { TMPDIR: sb.tmp }, started, 'SIGINT');
      expect(caughtProblems(r, 'SIGINT')).toEqual([]);
      expect(fs.readdirSync(sb.target)).toEqual(['old']);
      expect(tempDirs(sb.base, '.out.')).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });

  for (const [to, sig] of [
    ['overlay', 'SIGINT'],
    ['oci', 'SIGTERM'],
  ] as const) {
    it(`convert - --to ${to}: ${sig} leaves no output, no temp file, no spooled stdin`, { timeout: 60_000 }, async () => {
      const sb = makeSandbox('whiteout-signal-');
      try {
        const out = path.join(sb.base, 'out.tar');
        // --to overlay spools stdin into TMPDIR first; --to oci writes a sibling temp file as it goes.
        const started = () => (to === 'overlay' ? grown(sb.tmp, 'whiteout-') : grown(sb.base, '.out.tar.whiteout-'));
        const r = await interrupt(['convert', '-', '--to', to, '-o', out], { TMPDIR: sb.tmp }, started, sig);
        expect(caughtProblems(r, sig)).toEqual([]);
        expect(fs.existsSync(out)).toBe(false);
        expect(tempDirs(sb.base, '.out')).toEqual([]);
        expect(fs.readdirSync(sb.tmp)).toEqual([]);
      } finally {
        sb.cleanup();
      }
    });
  }

  it('flatten - : SIGINT leaves no target and no temp', { timeout: 60_000 }, async (ctx) => {
    skipUnless(ctx, flattenWhy(), 'flatten signal test');
    const sb = makeSandbox('whiteout-signal-');
    try {
      const started = () => tempDirs(sb.base, '.out.').length > 0 || fs.readdirSync(sb.tmp).length > 0;
      const r = await interrupt(['flatten', '-', '-o', sb.target], { TMPDIR: sb.tmp }, started, 'SIGINT');
      expect(caughtProblems(r, 'SIGINT')).toEqual([]);
      expect(fs.existsSync(sb.target)).toBe(false);
      expect(tempDirs(sb.base, '.out')).toEqual([]);
      expect(fs.readdirSync(sb.tmp)).toEqual([]);
    } finally {
      sb.cleanup();
    }
  });
});
