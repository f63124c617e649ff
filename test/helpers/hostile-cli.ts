/**
 * Running the real CLI (`node bin/whiteout.js`) the way a user does, and the
 * checks every hostile run shares: exit status and the one-line error rule
 * (SPEC.md §11).
 */
import { type ChildProcess, fork, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'bin/whiteout.js');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** The command, for messages. */
  cmd: string;
  /** Peak resident set of the child in kB, when `watchMemory` was asked for. */
  peakRssKb?: number;
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
  input?: Buffer;
  /** Guard, not an assertion: a run that takes longer is killed and reported as a hang. */
  timeoutMs?: number;
  /** Extra node flags (e.g. --max-old-space-size). */
  nodeArgs?: string[];
  watchMemory?: boolean;
}

function peakRss(pid: number): number | undefined {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(s);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const cmd = `whiteout ${args.join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), BIN, ...args], {
      cwd: REPO,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let peak = 0;
    const poll = opts.watchMemory
      ? setInterval(() => {
          const v = child.pid ? peakRss(child.pid) : undefined;
          if (v !== undefined && v > peak) peak = v;
        }, 20)
      : undefined;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? Buffer.alloc(0));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (poll) clearInterval(poll);
      if (timedOut) {
        reject(new Error(`${cmd}: still running after ${opts.timeoutMs ?? 60_000} ms (hang guard)`));
        return;
      }
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8'), cmd, ...(poll ? { peakRssKb: peak } : {}) });
    });
  });
}

/**
 * Problems with a failed run: exit status must be 1, every stderr line must
 * start `whiteout: `, exactly one of them (the last) is not a warning, and
 * nothing looks like a stack trace or an internal error. Empty when fine.
 */
export function failureProblems(r: CliResult): string[] {
  const p: string[] = [];
  if (r.code !== 1) p.push(`exit status ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}, expected 1`);
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const errors = lines.filter((l) => !l.startsWith('whiteout: warning: '));
  if (errors.length !== 1) p.push(`expected exactly one error line on stderr, got ${errors.length}`);
  for (const l of lines) if (!l.startsWith('whiteout: ')) p.push(`stderr line not starting 'whiteout: ': ${JSON.stringify(l)}`);
  if (lines.length > 0 && lines[lines.length - 1]!.startsWith('whiteout: warning: ')) p.push('the error is not the last line');
  if (/^\s+at /m.test(r.stderr) || /node:internal|\.js:\d+:\d+/.test(r.stderr)) p.push('stderr looks like a stack trace');
  if (/internal error/.test(r.stderr)) p.push('an internal error escaped (not a WhiteoutError or system error)');
  if (errors.some((l) => l.startsWith('whiteout: : '))) p.push("the error names nothing ('whiteout: : …')");
  return p;
}

export function successProblems(r: CliResult): string[] {
  const p: string[] = [];
  if (r.code !== 0) p.push(`exit status ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}, expected 0`);
  for (const l of r.stderr.split('\n').filter((x) => x !== '')) {
    if (/^\s+at /.test(l) || /internal error/.test(l)) p.push(`stderr: ${l}`);
  }
  return p;
}

/** Long hostile names make long lines: keep each to something a person can read. */
const clip = (s: string, n = 300): string => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);

export function show(r: CliResult): string {
  const err = r.stderr.trim().split('\n').map((l) => clip(l)).join('\n          ');
  return `$ ${clip(r.cmd)}\n  exit ${r.code}${r.signal ? ` signal ${r.signal}` : ''}\n  stderr: ${err}`;
}

let flattenCache: boolean | undefined;

/**
 * Is `flatten` there yet? yargs answers `--help` for an unknown command with
 * the global help and exit 0, so exit 0 alone proves nothing: the help must
 * be flatten's own (its usage line names it).
 */
export function flattenAvailable(): boolean {
  if (flattenCache === undefined) {
    const r = spawnSync(process.execPath, [BIN, 'flatten', '--help'], { cwd: REPO, encoding: 'utf8' });
    flattenCache = r.status === 0 && /whiteout flatten\b/.test(r.stdout) && !/Commands:/.test(r.stdout.split('\n').slice(0, 3).join('\n'));
  }
  return flattenCache;
}

// ---- a pool of long-lived CLI hosts (test/hostile/cli-host.mjs) ---------------


interface HostReply {
  id: number;
  code: number;
  stdout: string;
  stderr: string;
}

interface Pending {
  resolve: (r: CliResult) => void;
  reject: (e: Error) => void;
  cmd: string;
  timer: NodeJS.Timeout;
}

class Host {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = '';
  busy = 0;

  private start(): ChildProcess {
    const child = fork(path.join(REPO, 'test/hostile/cli-host.mjs'), [], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'json' });
    child.stderr?.on('data', (b: Buffer) => {
      this.stderrTail = (this.stderrTail + b.toString()).slice(-4000);
    });
    child.on('message', (m: HostReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      this.busy--;
      p.resolve({ code: m.code, signal: null, stdout: Buffer.from(m.stdout, 'base64'), stderr: m.stderr, cmd: p.cmd });
    });
    child.on('exit', (code, signal) => {
      // A crash is the run's crash: report it as that run's result, like a dying CLI process.
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        this.busy--;
        p.resolve({ code, signal, stdout: Buffer.alloc(0), stderr: `${this.stderrTail}\n(the CLI host died: exit ${code} ${signal ?? ''})`, cmd: p.cmd });
        this.pending.delete(id);
      }
      if (this.child === child) this.child = undefined;
    });
    return child;
  }

  run(id: number, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliResult> {
    const child = (this.child ??= this.start());
    const cmd = `whiteout ${args.join(' ')}`;
    this.busy++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.busy--;
        child.kill('SIGKILL');
        reject(new Error(`${cmd}: still running after ${timeoutMs} ms (hang guard)`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, cmd, timer });
      child.send({ id, argv: args, env });
    });
  }

  stop(): void {
    this.child?.kill();
    this.child = undefined;
  }
}

const hosts: Host[] = [];
let nextId = 0;

/**
 * Run the CLI's main() in a pooled host process (see cli-host.mjs). Same
 * result shape as runCli; stdin is not available.
 */
export function runHosted(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  if (hosts.length === 0) for (let i = 0; i < 2; i++) hosts.push(new Host());
  const host = hosts.reduce((a, b) => (b.busy < a.busy ? b : a));
  return host.run(nextId++, args, opts.env ?? {}, opts.timeoutMs ?? 60_000);
}

export function stopHosts(): void {
  for (const h of hosts.splice(0)) h.stop();
}
