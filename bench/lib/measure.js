// Times one child process: wall, user+sys CPU (the child and every descendant
// it waited for — tar's gzip, whiteout's mknod), and peak RSS.
//
// process.resourceUsage() covers only this process, so the numbers come from
// GNU time (/usr/bin/time: wait4 rusage) when it is installed; otherwise from
// bash's `time` for CPU and a /proc poller for peak RSS (VmHWM of every
// descendant, sampled every 10 ms — it can miss a peak shorter than that).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const GNU_TIME = '/usr/bin/time';
export const haveGnuTime = !process.env['BENCH_NO_GNU_TIME'] && fs.existsSync(GNU_TIME);

/**
 * @typedef {object} Sample
 * @property {number} wall   seconds (measured here, hrtime around the whole child)
 * @property {number} user   seconds
 * @property {number} sys    seconds
 * @property {number} cpu    user + sys
 * @property {number} rssMB  peak resident set, MiB (largest single process of the tree)
 * @property {number} otherCpu  CPU seconds the rest of the machine used meanwhile (from /proc/stat):
 *   this machine is shared, and a run next to someone's test suite is not a clean sample
 */

const HZ = 100; // USER_HZ, the unit of /proc/stat on Linux

/** Busy CPU seconds of the whole machine so far. */
export function machineBusy() {
  const f = (fs.readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / HZ;
}

/**
 * Wait (up to maxSec) until the rest of the machine is quiet: less than `limit`
 * of one CPU busy over a 1-second window. Returns the seconds waited and the
 * load seen last.
 * @param {number} maxSec @param {number} [limit]
 */
export async function waitQuiet(maxSec, limit = 0.15) {
  const t0 = Date.now();
  let load = 0;
  for (;;) {
    const b0 = machineBusy();
    await new Promise((r) => setTimeout(r, 1000));
    load = machineBusy() - b0;
    const waited = (Date.now() - t0) / 1000;
    if (load < limit || waited >= maxSec) return { waited, load };
  }
}

/**
 * @typedef {object} RunSpec
 * @property {string[]} argv        the command
 * @property {string} [stdinFile]   fed as standard input (a file, not a pipe: no extra process on the clock)
 * @property {string} [stdinCmd]    a shell pipeline whose output is the standard input (untimed producer)
 * @property {string} [stdoutFile]  standard output goes here (default /dev/null)
 * @property {string} [cwd]
 */

let seq = 0;

/** @param {number} pid @returns {number[]} */
function descendants(pid) {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = /** @type {number} */ (out[i]);
    let tasks = [];
    try {
      tasks = fs.readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
      } catch {
        /* gone */
      }
    }
  }
  return out;
}

/** @param {number} pid */
function hwmKB(pid) {
  try {
    const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** @param {string} s */
const shq = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * @param {RunSpec} spec
 * @returns {Promise<Sample & {code: number, stderr: string}>}
 */
export function measure(spec) {
  const tmp = path.join(os.tmpdir(), `whiteout-bench-${process.pid}-${seq++}.time`);
  const cmd = spec.argv.map(shq).join(' ');
  const timed = haveGnuTime ? `${GNU_TIME} -f '%e %U %S %M' -o ${shq(tmp)} ${cmd}` : `TIMEFORMAT='%3R %3U %3S'; { time ${cmd} 2>&3 ; } 3>&2 2>${shq(tmp)}`;
  let script = timed;
  if (spec.stdinFile) script = `${timed} < ${shq(spec.stdinFile)}`;
  if (spec.stdinCmd) script = `${spec.stdinCmd} | ${timed}`;
  script = `set -o pipefail; ${script} > ${shq(spec.stdoutFile ?? '/dev/null')}`;
  return new Promise((resolve, reject) => {
    const busy0 = machineBusy();
    const t0 = process.hrtime.bigint();
    const child = spawn('bash', ['-c', script], { cwd: spec.cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20000)));
    let peakKB = 0;
    const poll = haveGnuTime
      ? undefined
      : setInterval(() => {
          // the largest VmHWM among the wrapper's descendants (with stdinCmd this includes the producer)
          for (const p of descendants(/** @type {number} */ (child.pid)).slice(1)) peakKB = Math.max(peakKB, hwmKB(p));
        }, 10);
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      if (poll) clearInterval(poll);
      let fields = [];
      try {
        const lines = fs.readFileSync(tmp, 'utf8').trim().split('\n');
        fields = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(Number);
        fs.rmSync(tmp, { force: true });
      } catch {
        /* the command may not have started */
      }
      const user = fields[1] ?? NaN;
      const sys = fields[2] ?? NaN;
      const rssKB = haveGnuTime ? (fields[3] ?? NaN) : peakKB;
      const otherCpu = Math.max(0, machineBusy() - busy0 - (user + sys));
      resolve({ wall, user, sys, cpu: user + sys, rssMB: rssKB / 1024, otherCpu, code: code ?? 1, stderr });
    });
  });
}
