/**
 * Privilege plumbing for the fault tests: tmpfs mounts (root), running the CLI
 * as nobody (setpriv), and in a user namespace (unshare). Every helper says
 * why it cannot run, so a test can skip visibly rather than pass quietly.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, type CliResult, REPO, flattenAvailable } from './hostile-cli.js';

export const NOBODY = 65534;
export const isRoot = process.getuid?.() === 0;

export type Why = { ok: true } | { ok: false; reason: string };

function firstLine(s: string | Buffer | null | undefined): string {
  return String(s ?? '').trim().split('\n')[0] ?? '';
}

/** Mount a tmpfs at `dir` (made if missing). */
export function mountTmpfs(dir: string, options: string): Why {
  if (!isRoot) return { ok: false, reason: 'not root: cannot mount a tmpfs' };
  fs.mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
  return r.status === 0 ? { ok: true } : { ok: false, reason: `mount -t tmpfs failed: ${firstLine(r.stderr)}` };
}

export function remount(dir: string, options: string): Why {
  const r = spawnSync('mount', ['-o', `remount,${options}`, dir]);
  return r.status === 0 ? { ok: true } : { ok: false, reason: `mount -o remount,${options} failed: ${firstLine(r.stderr)}` };
}

export function bindMount(src: string, dst: string): Why {
  if (!isRoot) return { ok: false, reason: 'not root: cannot bind-mount' };
  fs.mkdirSync(dst, { recursive: true });
  let r = spawnSync('mount', ['--bind', src, dst]);
  if (r.status !== 0) return { ok: false, reason: `mount --bind failed: ${firstLine(r.stderr)}` };
  r = spawnSync('mount', ['-o', 'remount,bind,ro', dst]);
  if (r.status !== 0) {
    unmount(dst);
    return { ok: false, reason: `remount,bind,ro failed: ${firstLine(r.stderr)}` };
  }
  return { ok: true };
}

/** Unmount, lazily if busy; never throws (it runs in finally blocks). */
export function unmount(dir: string): void {
  if (spawnSync('umount', [dir]).status !== 0) spawnSync('umount', ['-l', dir]);
}

/** A temp dir every user may enter and write (sticky, like /tmp). */
export function worldTemp(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(d, 0o1777);
  return d;
}

let cliRoot: string | undefined;

/**
 * A copy of the CLI nobody can read. The checkout itself is used when nobody
 * can already run it; otherwise bin/, dist/, node_modules/ and package.json
 * are copied into a world-readable temp dir.
 */
function unprivilegedCli(): { root: string } | { reason: string } {
  if (cliRoot) return { root: cliRoot };
  const probe = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, BIN, '--version'], { cwd: '/' });
  if (probe.error) return { reason: `setpriv: ${probe.error.message}` };
  if (probe.status === 0) return { root: (cliRoot = REPO) };
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'whiteout-cli-copy-'));
  for (const p of ['bin', 'dist', 'node_modules', 'package.json']) fs.cpSync(path.join(REPO, p), path.join(copy, p), { recursive: true });
  spawnSync('chmod', ['-R', 'a+rX', copy]);
  fs.chmodSync(copy, 0o755);
  const again = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, path.join(copy, 'bin/whiteout.js'), '--version'], { cwd: '/' });
  if (again.status !== 0) return { reason: `nobody cannot run the CLI even from a copy: ${firstLine(again.stderr)}` };
  return { root: (cliRoot = copy) };
}

export function nobodyAvailable(): Why {
  if (!isRoot) return { ok: false, reason: 'not root: cannot switch to nobody with setpriv' };
  const c = unprivilegedCli();
  return 'root' in c ? { ok: true } : { ok: false, reason: c.reason };
}

/** The checkout, or the copy of it, that nobody can run whiteout from (ask nobodyAvailable() first). */
export function unprivilegedRoot(): string {
  const c = unprivilegedCli();
  if (!('root' in c)) throw new Error(c.reason);
  return c.root;
}

/** Run the CLI as nobody:nogroup with no supplementary groups. */
export function runAsNobody(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const c = unprivilegedCli();
  if (!('root' in c)) throw new Error(c.reason);
  const r = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', process.execPath, path.join(c.root, 'bin/whiteout.js'), ...args], {
    cwd: '/',
    env: { ...process.env, HOME: '/', ...env },
    timeout: 60_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString(), cmd: `(as nobody) whiteout ${args.join(' ')}` };
}

/**
 * Run a shell script in a new user and mount namespace as nobody mapped to
 * root (`setpriv … unshare -rm sh -c`), falling back to root's own
 * `unshare -rm` when nobody may not make namespaces. `$WHITEOUT` runs the CLI.
 */
export function inUserNamespace(script: string): { r: CliResult; asNobody: boolean } | { reason: string } {
  const c = unprivilegedCli();
  const root = 'root' in c ? c.root : REPO;
  const env = { ...process.env, WHITEOUT: `${process.execPath} ${path.join(root, 'bin/whiteout.js')}`, HOME: '/' };
  const attempt = (prefix: string[]) => spawnSync(prefix[0]!, [...prefix.slice(1), 'unshare', '-rm', 'sh', '-ec', script], { cwd: '/', env, timeout: 120_000 });
  const probe = spawnSync('setpriv', ['--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups', 'unshare', '-rm', 'true']);
  const asNobody = isRoot && 'root' in c && probe.status === 0;
  const r = asNobody ? attempt(['setpriv', '--reuid', String(NOBODY), '--regid', String(NOBODY), '--clear-groups']) : attempt(['env']);
  if (r.error) return { reason: `unshare: ${r.error.message}` };
  if (!asNobody && r.status !== 0 && /unshare failed|Operation not permitted/.test(r.stderr.toString())) return { reason: `unshare -rm not permitted: ${firstLine(r.stderr)}` };
  return { r: { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr.toString(), cmd: 'unshare -rm sh -ec …' }, asNobody };
}

/** Skip a test visibly: a warning on the console and a skip (with the reason) in the report, never a quiet pass. */
export function skipUnless(ctx: { skip: (note?: string) => never }, why: Why, what: string): void {
  if (why.ok) return;
  console.warn(`SKIPPED ${what}: ${why.reason}`);
  ctx.skip(`${what}: ${why.reason}`);
}

export function flattenWhy(): Why {
  return flattenAvailable() ? { ok: true } : { ok: false, reason: '`whiteout flatten` is not there yet' };
}
