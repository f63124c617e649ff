// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time and
// inclusive time per function, self time per file. Only the main JS thread is
// sampled: time in libuv's thread pool (fs calls, zlib) shows up as "(idle)"
// on the main thread, and time in a child process (mknod) not at all.
import fs from 'node:fs';
import path from 'node:path';

/**
 * @typedef {object} CpuNode
 * @property {number} id
 * @property {{functionName: string, url: string, lineNumber: number}} callFrame
 * @property {number[]} [children]
 */
/** @typedef {{nodes: CpuNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[]}} CpuProfile */

/** @param {string} url @param {string} repo */
function shortUrl(url, repo) {
  if (!url) return '';
  const p = url.startsWith('file://') ? decodeURIComponent(url.slice(7)) : url;
  return p.startsWith(`${repo}/`) ? path.relative(repo, p) : p;
}

/**
 * @param {string} file a .cpuprofile
 * @param {string} repo paths under it are shown relative
 */
export function summarise(file, repo) {
  /** @type {CpuProfile} */
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  /** @type {Map<number, CpuNode>} */
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  /** @type {Map<number, number>} */
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** @param {CpuNode} n */
  const key = (n) => {
    const f = n.callFrame;
    const u = shortUrl(f.url, repo);
    return u ? `${f.functionName || '(anonymous)'}  ${u}:${f.lineNumber + 1}` : f.functionName;
  };
  /** @param {CpuNode} n */
  const fileOf = (n) => shortUrl(n.callFrame.url, repo) || n.callFrame.functionName;
  /** @type {Map<string, number>} */ const self = new Map();
  /** @type {Map<string, number>} */ const incl = new Map();
  /** @type {Map<string, number>} */ const files = new Map();
  let total = 0;
  // Sample i lasts until sample i+1 (as Chrome DevTools counts it); the last one until endTime.
  let t = prof.startTime;
  const stamps = prof.timeDeltas.map((d) => (t += d));
  for (let i = 0; i < prof.samples.length; i++) {
    const dur = (i + 1 < stamps.length ? /** @type {number} */ (stamps[i + 1]) : prof.endTime) - /** @type {number} */ (stamps[i]);
    if (dur <= 0) continue;
    const n = byId.get(/** @type {number} */ (prof.samples[i]));
    if (!n) continue;
    total += dur;
    const k = key(n);
    self.set(k, (self.get(k) ?? 0) + dur);
    files.set(fileOf(n), (files.get(fileOf(n)) ?? 0) + dur);
    const seen = new Set();
    for (let id = /** @type {number | undefined} */ (n.id); id !== undefined; id = parent.get(id)) {
      const m = /** @type {CpuNode} */ (byId.get(id));
      const mk = key(m);
      if (mk === '(root)' || seen.has(mk)) continue;
      seen.add(mk);
      incl.set(mk, (incl.get(mk) ?? 0) + dur);
    }
  }
  /** @param {Map<string, number>} m @param {number} k */
  const top = (m, k) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct: Math.round((us / total) * 1000) / 10 }));
  return { file, totalMs: Math.round(total / 1000), samples: prof.samples.length, self: top(self, 30), inclusive: top(incl, 25), files: top(files, 15) };
}

/** @param {ReturnType<typeof summarise>} s @param {string} title */
export function formatSummary(s, title) {
  /** @param {{name: string, ms: number, pct: number}[]} rows */
  const tbl = (rows) => rows.map((r) => `  ${String(r.ms).padStart(7)} ms ${r.pct.toFixed(1).padStart(5)}%  ${r.name}`).join('\n');
  return [
    `${title}: ${s.totalMs} ms sampled on the main thread (${s.samples} samples), ${s.file}`,
    '',
    'top self time (function  file:line):',
    tbl(s.self),
    '',
    'self time by file:',
    tbl(s.files),
    '',
    'top inclusive time:',
    tbl(s.inclusive),
    '',
  ].join('\n');
}

// `node bench/lib/profile.js FILE.cpuprofile [ROOT]`: summarise any profile (ROOT: paths shown relative to it).
if (process.argv[1] && fs.realpathSync(process.argv[1]) === fs.realpathSync(new URL(import.meta.url).pathname)) {
  const [file, root] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node bench/lib/profile.js FILE.cpuprofile [ROOT]\n');
    process.exit(2);
  }
  process.stdout.write(formatSummary(summarise(file, root ?? process.cwd()), path.basename(file)));
}
