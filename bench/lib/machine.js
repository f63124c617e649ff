// What the numbers were measured on: a ratio means little without the machine.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

/** @param {string} cmd @param {string[]} args */
function out(cmd, args) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  } catch {
    return '';
  }
}

/** Free bytes on the file system holding `dir`. @param {string} dir */
export function freeBytes(dir) {
  const s = fs.statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

/** @param {string} benchOut @param {string} repo */
export function describeMachine(benchOut, repo) {
  const cpuinfo = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const mem = /MemTotal:\s+(\d+)/.exec(fs.readFileSync('/proc/meminfo', 'utf8'));
  const rev = out('git', ['-C', repo, 'rev-parse', '--short', 'HEAD']);
  const dirty = out('git', ['-C', repo, 'status', '--porcelain', '--', 'src']) ? ' (src/ has uncommitted changes)' : '';
  return {
    nproc: os.availableParallelism(),
    memoryGiB: mem ? Math.round((Number(mem[1]) / 1024 / 1024) * 10) / 10 : null,
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    // Node 20 parses this bundle at every start (~50 ms): the node-tar peer pays it, whiteout's launcher does not.
    nodeExtraCaCerts: Boolean(process.env.NODE_EXTRA_CA_CERTS),
    benchOutFs: out('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', '-T', benchOut]) || out('stat', ['-f', '-c', '%T', benchOut]),
    freeGB: Math.round(freeBytes(benchOut) / 1e9),
    gnuTar: out('tar', ['--version']).split('\n')[0] ?? '',
    gzip: out('gzip', ['--version']).split('\n')[0] ?? '',
    umoci: out('umoci', ['--version']),
    whiteout: `${rev}${dirty}`,
  };
}
