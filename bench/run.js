#!/usr/bin/env node
// Issue 7's benchmark: whiteout against GNU tar, node-tar and umoci, side by
// side, on generated realistic layers. See bench/README.md.
//
//   npm run bench                      full size, 5 rounds
//   node bench/run.js --rounds 3       (after a build) 3 rounds
//   node bench/run.js --quick          ~1/10 size inputs, for trying things
//   node bench/run.js --only unpack-big,pack-big --profile
//   node bench/run.js --huge           also: 10 GB and 1,000,000-entry layers through stdin (peak RSS; the
//                                      million-entry one also through flatten, hidden, check and convert)
import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureInputs, GNU_TAR_CREATE } from './lib/inputs.js';
import { measure, haveGnuTime, waitQuiet } from './lib/measure.js';
import { describeMachine, freeBytes } from './lib/machine.js';
import { compareUnpack, compareNameSets, compareRootfs, compareTrees, tarNames } from './lib/verify.js';
import { renderChart } from './lib/chart.js';
import { summarise, formatSummary } from './lib/profile.js';

const BENCH = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.dirname(BENCH);
const OUT = path.join(BENCH, 'out');
// --work DIR: where outputs are written (default bench/out/work). On this VM's ext4 (mounted with
// `discard`) an extraction right after a 1 GB tree was deleted costs 3-6x the sys time, so
// `--work /dev/shm/whiteout-bench --tag tmpfs` measures the tools without that noise.
const WORK = path.resolve(process.argv.includes('--work') ? (process.argv[process.argv.indexOf('--work') + 1] ?? '') : path.join(OUT, 'work'));
// whiteout is run from a snapshot of bin/ and dist/ taken at start: others rebuild dist/ while they work,
// and every round must time the same code.
const SNAP = path.join(OUT, 'whiteout-snapshot');
const WHITEOUT = path.join(SNAP, 'bin', 'whiteout.js');
// The timed runs start whiteout as a user does, by its launcher (bin/whiteout, which drops
// NODE_EXTRA_CA_CERTS); the untimed helpers call node on whiteout.js.
const LAUNCHER = path.join(SNAP, 'bin', 'whiteout');
const NODE = process.execPath;
// The launcher runs the `node` on PATH: make that this one.
process.env.PATH = `${path.dirname(NODE)}:${process.env.PATH ?? ''}`;

// ---- arguments ----------------------------------------------------------------
const argv = process.argv.slice(2);
/** @param {string} name */
const flag = (name) => argv.includes(name);
/** @param {string} name @param {string} def */
const opt = (name, def) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? /** @type {string} */ (argv[i + 1]) : def;
};
if (flag('--help') || flag('-h')) {
  process.stdout.write(fs.readFileSync(path.join(BENCH, 'README.md'), 'utf8'));
  process.exit(0);
}
const QUICK = flag('--quick');
const ROUNDS = Number(opt('--rounds', '5'));
const SEED = opt('--seed', 'issue-7');
const ONLY = opt('--only', '').split(',').filter(Boolean);
const VERIFY = !flag('--no-verify');
// This machine is shared (others run test suites on its 2 CPUs): before each timed run, wait up to this
// many seconds for the rest of the machine to go quiet, and record how busy it was during the run.
const QUIET_WAIT = Number(opt('--quiet-wait', '120'));
const TAG = opt('--tag', '');
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) die('--rounds needs a positive integer');

/** @param {string} msg @returns {never} */
function die(msg) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(1);
}
/** @param {string} msg */
const log = (msg) => process.stderr.write(`bench: ${msg}\n`);

// ---- preconditions ----------------------------------------------------------------
fs.mkdirSync(OUT, { recursive: true });
{
  // One run at a time: a second one would delete the first's work dir and snapshot under it.
  const lock = path.join(OUT, 'run.lock');
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8'));
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = pid !== process.pid;
    } catch {
      /* stale */
    }
    if (alive) die(`another benchmark run (pid ${pid}) is using bench/out; wait for it to finish`);
  } catch (e) {
    if (!(e instanceof Error && 'code' in e && e.code === 'ENOENT')) throw e;
  }
  fs.writeFileSync(lock, String(process.pid));
  process.on('exit', () => fs.rmSync(lock, { force: true }));
}
{
  // inputs ~2.5 GB + a kept unpacked tree (pack's input) + outputs of the runs in flight
  const need = (QUICK ? 1.5e9 : 8e9) + (flag('--huge') ? 14e9 : 0);
  const free = freeBytes(OUT);
  if (free < need) die(`needs ~${(need / 1e9).toFixed(0)} GB free on the file system of ${OUT}, has ${(free / 1e9).toFixed(1)} GB`);
  fs.mkdirSync(WORK, { recursive: true });
  const workNeed = QUICK ? 1e9 : 6e9;
  if (path.relative(OUT, WORK).startsWith('..') && freeBytes(WORK) < workNeed) die(`needs ~${workNeed / 1e9} GB free in ${WORK}`);
}
if (!fs.existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) die('dist/ is not built: run `npm run bench` (it builds first) or `npm run build`');
fs.rmSync(SNAP, { recursive: true, force: true });
fs.mkdirSync(SNAP, { recursive: true });
for (const f of ['bin', 'dist', 'package.json']) fs.cpSync(path.join(REPO, f), path.join(SNAP, f), { recursive: true });
fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(SNAP, 'node_modules'));
/** @param {string} cmd */
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
for (const t of ['tar', 'gzip', 'mknod', 'sync']) if (!have(t)) die(`${t} is not installed`);
if (!execFileSync('tar', ['--version']).toString().includes('GNU tar')) die('tar is not GNU tar');
if (process.getuid?.() !== 0) die('run as root: whiteout writes 0/0 devices and trusted.* xattrs, and both unpackers keep owners');
// A fresh Debian machine: each is one apt package. Update the lists only if the install fails without.
for (const pkg of ['umoci', 'zstd']) {
  if (have(pkg)) continue;
  log(`${pkg} is missing: apt-get install -y ${pkg}`);
  if (spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'inherit' }).status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    if (spawnSync('apt-get', ['install', '-y', pkg], { stdio: 'inherit' }).status !== 0) die(`could not install ${pkg}`);
  }
}
const PEERS = path.join(OUT, 'peers');
if (!fs.existsSync(path.join(PEERS, 'node_modules', 'tar', 'package.json'))) {
  // node-tar at run time, outside the project's dependencies.
  log('installing node-tar (tar@7) into bench/out/peers');
  if (spawnSync('npm', ['install', '--prefix', PEERS, 'tar@7', '--no-audit', '--no-fund', '--loglevel=error'], { stdio: 'inherit' }).status !== 0) die('npm install tar@7 failed');
}
const nodeTarVersion = JSON.parse(fs.readFileSync(path.join(PEERS, 'node_modules', 'tar', 'package.json'), 'utf8')).version;

// `whiteout X --help` exits 0 for any X (yargs prints the top-level help), so a
// command exists only if the top-level help lists it.
const topHelp = spawnSync(NODE, [WHITEOUT, '--help']).stdout.toString();
/** @param {string} cmd */
const hasCommand = (cmd) => new RegExp(`^\\s*whiteout ${cmd}\\b`, 'm').test(topHelp);
const HAS_FLATTEN = hasCommand('flatten');
const HAS_HIDDEN = hasCommand('hidden');

// ---- inputs ----------------------------------------------------------------
const inputs = await ensureInputs(OUT, { seed: SEED, size: QUICK ? 'quick' : 'full' });
const { big, wh10k, image } = inputs;
// big.tar as zstd(1) writes it by default (level 3, with a checksum), next to the cached input: a zstd layer.
const bigZst = `${big.tar}.zst`;
if (!fs.existsSync(bigZst)) {
  log('compressing big.tar with zstd -3 (untimed, cached)');
  execFileSync('zstd', ['-q', '-3', '-f', big.tar, '-o', `${bigZst}.tmp`], { stdio: 'inherit' });
  fs.renameSync(`${bigZst}.tmp`, bigZst);
}
const machine = describeMachine(OUT, REPO);
const workFs = spawnSync('findmnt', ['-n', '-o', 'FSTYPE,OPTIONS', '-T', WORK]).stdout?.toString().trim() ?? '?';

// Warm the page cache once, so every tool in every round reads its input from memory.
const allInputs = [big.tar, /** @type {string} */ (big.gz), bigZst, wh10k.tar, ...image.blobs];
for (const f of allInputs) execFileSync('cat', [f], { stdio: ['ignore', 'ignore', 'inherit'] });
let cacheNote = 'inputs read once before the first round (warm page cache)';
if (have('fincore')) {
  const res = execFileSync('fincore', ['-b', '-n', '-o', 'RES,SIZE', ...allInputs]).toString().trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
  const inCache = res.reduce((a, r) => a + (r[0] ?? 0), 0);
  const total = res.reduce((a, r) => a + (r[1] ?? 0), 0);
  cacheNote += `; ${((inCache / total) * 100).toFixed(0)}% of input bytes in the page cache after warm-up (fincore)`;
}

// Never wipe a --work dir the benchmark did not make: it must be empty or carry our marker.
if (fs.existsSync(WORK) && fs.readdirSync(WORK).length && !fs.existsSync(path.join(WORK, '.whiteout-bench'))) die(`--work ${WORK} is not empty and not a benchmark work dir`);
fs.rmSync(WORK, { recursive: true, force: true });
fs.mkdirSync(WORK, { recursive: true });
fs.writeFileSync(path.join(WORK, '.whiteout-bench'), '');
/** @param {string} p */
const rm = (p) => fs.rmSync(p, { recursive: true, force: true });

// ---- the cases ----------------------------------------------------------------
/**
 * @typedef {object} Tool
 * @property {string} name
 * @property {boolean} ours
 * @property {(out: string) => import('./lib/measure.js').RunSpec} spec  the command, writing to `out`
 * @property {(out: string) => void} [prepare]  untimed: make the target ready
 */
/**
 * @typedef {object} Case
 * @property {string} id
 * @property {string} title
 * @property {Tool[]} tools  the first is whiteout; the rest are peers
 * @property {number | null} target  the issue's target for whiteout/first-peer wall ratio
 * @property {string} [unavailable]
 * @property {(outs: Record<string, string>) => string[]} [verify]  round 1: differences (empty = fine)
 */

const wo = (/** @type {string[]} */ ...a) => [LAUNCHER, ...a];
const mkdir = (/** @type {string} */ o) => fs.mkdirSync(o, { recursive: true });
const GNU_X = ['tar', '--numeric-owner', '-x'];

/** @param {string} id @param {string} label @param {string} layer @param {'gz' | 'zst' | undefined} codec @param {boolean} withNodeTar @param {string[]} [flags] @returns {Case} */
function unpackCase(id, label, layer, codec, withNodeTar, flags = []) {
  /** @type {Tool[]} */
  const tools = [
    { name: `whiteout unpack${flags.length ? ` ${flags.join(' ')}` : ''}`, ours: true, spec: (o) => ({ argv: wo('unpack', layer, '-o', o, ...flags) }) },
    // GNU tar runs gzip -d or zstd -d as a second process.
    { name: codec === 'gz' ? 'GNU tar -xzf' : codec === 'zst' ? 'GNU tar --zstd -xf' : 'GNU tar -xf', ours: false, prepare: mkdir, spec: (o) => ({ argv: [...GNU_X, ...(codec === 'gz' ? ['-z'] : codec === 'zst' ? ['--zstd'] : []), '-f', layer, '-C', o] }) },
  ];
  if (withNodeTar) tools.push({ name: 'node-tar x', ours: false, prepare: mkdir, spec: (o) => ({ argv: [NODE, path.join(BENCH, 'peers', 'node-tar-extract.js'), layer, o] }) });
  return {
    id,
    title: `unpack ${label}`,
    tools,
    target: 1.0,
    verify: (outs) => {
      const r = compareUnpack(/** @type {string} */ (outs['1']), /** @type {string} */ (outs['0']));
      log(`  verified ${id}: ${r.entries} entries, ${r.files} files hashed, ${r.whiteouts} whiteouts, ${r.opaque} opaque dirs: ${r.diffs.length ? 'DIFFERENT' : 'same as GNU tar'}`);
      return r.diffs;
    },
  };
}

const PACK_SRC = path.join(WORK, 'pack-src');

/** @param {string} id @param {string} title @param {string[]} flags @returns {Case} */
function packCase(id, title, flags) {
  return {
    id,
    title,
    target: 1.0,
    tools: [
      { name: `whiteout pack${flags.length ? ` ${flags.join(' ')}` : ''}`, ours: true, spec: (o) => ({ argv: wo('pack', PACK_SRC, '-o', o, ...flags) }) },
      // Same work as pack: sorted, numeric owners, every xattr (the opaque markers live in trusted.*).
      { name: 'GNU tar -c --xattrs', ours: false, spec: (o) => ({ argv: ['tar', '--xattrs', '--xattrs-include=*', '--sort=name', '--numeric-owner', '--format=pax', '-cf', o, '-C', PACK_SRC, '.'] }) },
    ],
    verify: (outs) => verifyPack(/** @type {string} */ (outs['0']), id),
  };
}
/** @type {Case[]} */
const cases = [
  // As a user runs it: the summary on stderr names the diffID, so the tar is hashed (~0.6 s of sha256 a GB).
  unpackCase('unpack-big', `big.tar (${fmtCount(big)})`, big.tar, undefined, true),
  // Like for like: -q shows nothing, so nothing is hashed; GNU tar hashes nothing either.
  unpackCase('unpack-big-q', `big.tar -q`, big.tar, undefined, false, ['-q']),
  unpackCase('unpack-big-gz', `big.tar.gz`, /** @type {string} */ (big.gz), 'gz', true),
  unpackCase('unpack-big-zst', `big.tar.zst`, bigZst, 'zst', false),
  unpackCase('unpack-wh10k', `wh10k.tar (${wh10k.counts['whiteout']} whiteouts)`, wh10k.tar, undefined, true),
  packCase('pack-big', 'pack big (unpacked dir)', []),
  // -q: no summary, so neither digest is computed (as GNU tar computes none).
  packCase('pack-big-q', 'pack big -q', ['-q']),
  {
    id: 'flatten',
    title: `flatten image (${image.blobs.length} gzip layers)`,
    target: 0.5,
    ...(HAS_FLATTEN ? {} : { unavailable: 'flatten: not available yet' }),
    tools: [
      // Both write the merged rootfs as a directory (umoci also writes config.json and an mtree manifest).
      { name: 'whiteout flatten', ours: true, spec: (o) => ({ argv: wo('flatten', image.layout, '-o', o, '-q') }) },
      { name: 'umoci unpack', ours: false, spec: (o) => ({ argv: ['umoci', 'unpack', '--image', `${image.layout}:latest`, o] }) },
    ],
    verify: (outs) => verifyFlatten(/** @type {string} */ (outs['0']), /** @type {string} */ (outs['1'])),
  },
  {
    id: 'hidden',
    title: 'hidden vs tar -t (image layers)',
    target: null,
    ...(HAS_HIDDEN ? {} : { unavailable: 'hidden: not available yet' }),
    tools: [
      // Both read every layer of the image once; hidden also merges them and (by default) scans hidden files for secrets.
      { name: 'whiteout hidden', ours: true, spec: () => ({ argv: wo('hidden', image.layout, '-q') }) },
      { name: 'GNU tar -tzf (each layer)', ours: false, spec: () => ({ argv: ['sh', '-c', 'for b; do tar -tzf "$b" || exit 1; done', 'sh', ...image.blobs] }) },
    ],
    verify: () => verifyHidden(),
  },
].filter((c) => !ONLY.length || ONLY.includes(c.id));

/** @param {import('./lib/inputs.js').LayerInput} l */
function fmtCount(l) {
  const n = Object.entries(l.counts).filter(([k]) => k !== 'bytes').reduce((a, [, v]) => a + v, 0);
  return `${(n / 1000).toFixed(1)}k entries, ${(l.tarBytes / 1e9).toFixed(2)} GB`;
}

/** whiteout pack's output holds the same names as the original layer, and the same contents (via GNU tar). @param {string} packed @param {string} id */
function verifyPack(packed, id) {
  const diffs = compareNameSets(tarNames(big.tar), tarNames(packed), 'whiteout pack vs big.tar names');
  const a = path.join(WORK, 'verify-pack-a');
  const b = path.join(WORK, 'verify-pack-b');
  rm(a);
  rm(b);
  mkdir(a);
  mkdir(b);
  execFileSync('tar', [...GNU_X.slice(1), '-f', big.tar, '-C', a]);
  execFileSync('tar', [...GNU_X.slice(1), '-f', packed, '-C', b]);
  diffs.push(...compareTrees(a, b, { markersMetaFree: true }).map((d) => `whiteout pack, re-extracted: ${d}`));
  rm(a);
  rm(b);
  log(`  verified ${id}: ${diffs.length ? 'DIFFERENT' : 'same names and contents as big.tar'}`);
  return diffs;
}

/** @param {string} flat @param {string} bundle */
function verifyFlatten(flat, bundle) {
  const rootfs = path.join(bundle, 'rootfs');
  const m = compareRootfs(rootfs, image.expected);
  const diffs = m.diffs.map((d) => `umoci rootfs vs the generator's model: ${d}`);
  if (fs.existsSync(flat) && fs.statSync(flat).isDirectory()) diffs.push(...compareTrees(fs.existsSync(path.join(flat, 'rootfs')) ? path.join(flat, 'rootfs') : flat, rootfs).map((d) => `flatten vs umoci: ${d}`));
  else if (fs.existsSync(flat)) diffs.push(...compareNameSets(new Set([...JSON.parse(fs.readFileSync(image.expected, 'utf8'))].map((e) => e[0])), tarNames(flat), 'flatten tar vs model'));
  log(`  verified flatten: ${m.entries} entries in umoci's rootfs: ${diffs.length ? 'DIFFERENT' : 'as the model predicts'}`);
  return diffs;
}

/** hidden's --json report must name what the generator's image deletes in upper layers but ships below. */
function verifyHidden() {
  const r = spawnSync(NODE, [WHITEOUT, 'hidden', image.layout, '-q', '--json'], { maxBuffer: 1 << 30 });
  const diffs = [];
  if (r.status !== 0) diffs.push(`whiteout hidden --json: exit ${r.status}: ${r.stderr.toString().trim().split('\n').slice(-1)[0]}`);
  else {
    try {
      const doc = JSON.parse(r.stdout.toString());
      if (typeof doc !== 'object' || doc === null) diffs.push('whiteout hidden --json: not a JSON object');
    } catch (e) {
      diffs.push(`whiteout hidden --json: not JSON: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  log(`  verified hidden: ${diffs.length ? 'FAILED' : 'ran, --json output parses'}`);
  return diffs;
}

// A missing command: its peers still run, as the baseline it will be held to. umoci's rootfs is
// checked against the generator's model in round 1 either way.
for (const c of cases) if (c.unavailable) c.tools = c.tools.filter((t) => !t.ours);
for (const c of cases) if (c.id === 'flatten' && c.unavailable) {
  c.verify = (outs) => {
    const m = compareRootfs(path.join(/** @type {string} */ (outs['0']), 'rootfs'), image.expected);
    log(`  verified umoci's rootfs against the generator's model: ${m.entries} entries: ${m.diffs.length ? 'DIFFERENT' : 'as predicted'}`);
    return m.diffs;
  };
}

// ---- the pack input: the overlay dir whiteout unpack makes of big.tar ----------------
if (cases.some((c) => c.id.startsWith('pack-big'))) {
  log('preparing pack input: whiteout unpack big.tar (untimed)');
  execFileSync(NODE, [WHITEOUT, 'unpack', big.tar, '-o', PACK_SRC, '-q'], { stdio: 'inherit' });
}

/**
 * The speed of this machine's CPU right now: sha256 of 64 MiB in this process, in MB/s. On a shared
 * host the same work can take 3x longer from one minute to the next (neighbours, not visible in
 * /proc/stat); this makes that visible next to each sample.
 */
const PROBE_BUF = Buffer.alloc(64 << 20, 7);
function speedProbe() {
  const t0 = process.hrtime.bigint();
  crypto.createHash('sha256').update(PROBE_BUF).digest();
  return Math.round(PROBE_BUF.length / 1e6 / (Number(process.hrtime.bigint() - t0) / 1e9));
}

// ---- rounds: A B A B …, each run into a fresh dir, output dropped after --------------
/** @type {Record<string, Record<string, (import('./lib/measure.js').Sample & {round: number, quietWaited: number, probeMBs: number})[]>>} */
const samples = {};
/** @type {string[]} */
const failures = [];
/** @type {Record<string, string>} */
const verified = {};
log(`${ROUNDS} round(s), ${QUICK ? 'quick' : 'full'} inputs, seed ${SEED}; ${haveGnuTime ? '/usr/bin/time' : 'bash time + /proc poller'} for CPU and peak RSS`);
for (let round = 1; round <= ROUNDS; round++) {
  for (const c of cases) {
    if (c.unavailable && !c.tools.length) continue;
    /** @type {Record<string, string>} */
    const outs = {};
    for (const [i, t] of c.tools.entries()) {
      const out = path.join(WORK, `${c.id}-${i}-r${round}${c.id.startsWith('pack-big') ? '.tar' : ''}`);
      rm(out);
      t.prepare?.(out);
      execFileSync('sync'); // the previous run's dirty pages are written back before this clock starts
      const quiet = QUIET_WAIT > 0 ? await waitQuiet(QUIET_WAIT) : { waited: 0, load: NaN };
      const probeMBs = speedProbe();
      const s = { ...(await measure(t.spec(out))), round, quietWaited: quiet.waited, probeMBs };
      if (s.code !== 0) {
        failures.push(`${c.id} / ${t.name} round ${round}: exit ${s.code}: ${s.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        log(`  FAILED ${c.id} / ${t.name}: exit ${s.code}\n${s.stderr.trim().split('\n').slice(-5).join('\n')}`);
      } else {
        ((samples[c.id] ??= {})[t.name] ??= []).push(s);
        log(`  r${round} ${c.id.padEnd(14)} ${t.name.padEnd(26)} wall ${s.wall.toFixed(2).padStart(7)} s  cpu ${s.cpu.toFixed(2).padStart(7)} s  rss ${s.rssMB.toFixed(0).padStart(5)} MB  others ${(s.otherCpu / s.wall).toFixed(2)} CPU  probe ${probeMBs} MB/s${quiet.waited > 2 ? ` (waited ${quiet.waited.toFixed(0)} s for quiet)` : ''}`);
      }
      outs[String(i)] = out;
    }
    if (round === 1 && VERIFY && c.verify && Object.keys(outs).length === c.tools.length) {
      const diffs = c.verify(outs);
      verified[c.id] = diffs.length ? `DIFFERENT (${diffs.length}+ differences)` : 'ok';
      if (diffs.length) {
        process.stderr.write(`\nbench: VERIFICATION FAILED for ${c.id}:\n  ${diffs.slice(0, 30).join('\n  ')}\n\n`);
        failures.push(`${c.id}: verification failed: ${diffs[0]}`);
      }
    }
    for (const o of Object.values(outs)) rm(o);
  }
}

// ---- statistics ----------------------------------------------------------------
/** @param {number[]} xs */
function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? /** @type {number} */ (s[mid]) : (/** @type {number} */ (s[mid - 1]) + /** @type {number} */ (s[mid])) / 2;
  return { median, min: /** @type {number} */ (s[0]), max: /** @type {number} */ (s[s.length - 1]) };
}
/** @param {(import('./lib/measure.js').Sample & {probeMBs: number})[]} ss */
function summary(ss) {
  return { n: ss.length, wall: stats(ss.map((s) => s.wall)), cpu: stats(ss.map((s) => s.cpu)), user: stats(ss.map((s) => s.user)), sys: stats(ss.map((s) => s.sys)), rssMB: stats(ss.map((s) => s.rssMB)), others: stats(ss.map((s) => s.otherCpu / s.wall)), probeMBs: stats(ss.map((s) => s.probeMBs)) };
}

/**
 * @param {(import('./lib/measure.js').Sample & {round: number})[]} a @param {(import('./lib/measure.js').Sample & {round: number})[]} b
 */
function paired(a, b) {
  /** @type {number[]} */ const wall = [];
  /** @type {number[]} */ const cpu = [];
  for (const x of a) {
    const y = b.find((s) => s.round === x.round);
    if (y) {
      wall.push(x.wall / y.wall);
      cpu.push(x.cpu / y.cpu);
    }
  }
  return wall.length ? { wallPaired: stats(wall), cpuPaired: stats(cpu) } : { wallPaired: null, cpuPaired: null };
}

const results = cases.map((c) => {
  const tools = c.tools.map((t) => {
    const ss = samples[c.id]?.[t.name] ?? [];
    return { name: t.name, ours: t.ours, ...(ss.length ? summary(ss) : { n: 0 }), samples: ss };
  });
  const ours = tools.find((t) => t.ours);
  const ratios = tools
    .filter((t) => !t.ours)
    .map((p) => {
      const ok = ours && 'wall' in ours && 'wall' in p && ours.wall && p.wall && ours.cpu && p.cpu;
      return {
        peer: p.name,
        wall: ok ? ours.wall.median / p.wall.median : null,
        cpu: ok ? ours.cpu.median / p.cpu.median : null,
        // best of each (min / min): the least disturbed estimate when the machine is shared
        wallBest: ok ? ours.wall.min / p.wall.min : null,
        cpuBest: ok ? ours.cpu.min / p.cpu.min : null,
        // paired: whiteout / peer within each round (they ran back to back), then the median over rounds:
        // the host's speed drifts by minutes, so neighbours in time are the fairest comparison
        ...paired(ours?.samples ?? [], p.samples),
      };
    });
  return { id: c.id, title: c.title, target: c.target, unavailable: c.unavailable ?? null, verified: verified[c.id] ?? (VERIFY ? 'not checked' : 'skipped'), tools, ratios };
});

// ---- --huge: memory on very big layers, streamed through stdin ---------------------
/** @type {{case: string, tool: string, wall: number, cpu: number, rssMB: number, others: number, code: number}[]} */
const huge = [];
if (flag('--huge')) {
  const gen = (/** @type {string} */ a) => `${NODE} ${path.join(BENCH, 'lib', 'stream-tar.js')} ${a} --seed ${SEED}`;
  /** @typedef {[string, (o: string) => string[], number[]?]} HugeTool  name, argv, exit codes that mean success (default 0) */
  /** @type {HugeTool[]} */
  const unpackTools = [
    ['whiteout unpack -', (o) => wo('unpack', '-', '-o', o, '-q')],
    ['GNU tar -xf -', (o) => [...GNU_X, '-f', '-', '-C', o]],
  ];
  // The commands that keep an index of every path (src/path-index.ts): a million paths is where it shows.
  /** @type {HugeTool[]} */
  const indexTools = [
    ['whiteout flatten - (to a tar)', (o) => wo('flatten', '-', '-o', o, '-q')],
    ['whiteout hidden -', () => wo('hidden', '-')],
    // check exits 3 when it finds errors: the generated layer has some (a whiteout beside its own target, …).
    ['whiteout check -', () => wo('check', '-'), [0, 3]],
    ['whiteout convert - --to overlay', (o) => wo('convert', '-', '--to', 'overlay', '-o', o)],
  ];
  for (const [id, a, tools] of /** @type {[string, string, HugeTool[]][]} */ ([
    ['10 GB layer', '--bytes 10e9', unpackTools],
    ['1,000,000 entries', '--entries 1000000', [...unpackTools, ...indexTools]],
  ])) {
    for (const [tool, mk, ok = [0]] of tools) {
      const out = path.join(WORK, 'huge');
      rm(out);
      if (tool.startsWith('GNU')) mkdir(out);
      execFileSync('sync');
      if (QUIET_WAIT > 0) await waitQuiet(QUIET_WAIT);
      log(`  huge: ${id}: ${tool} …`);
      const s = await measure({ argv: mk(out), stdinCmd: gen(a) });
      huge.push({ case: id, tool, wall: s.wall, cpu: s.cpu, rssMB: s.rssMB, others: s.otherCpu / s.wall, code: s.code });
      log(`  huge: ${id}: ${tool}: exit ${s.code}, wall ${s.wall.toFixed(1)} s, cpu ${s.cpu.toFixed(1)} s, peak RSS ${s.rssMB.toFixed(0)} MB`);
      if (!ok.includes(s.code)) failures.push(`huge ${id} / ${tool}: exit ${s.code}: ${s.stderr.trim().split('\n').slice(-2).join(' | ')}`);
      rm(out);
    }
  }
}

// ---- --profile: where whiteout unpack and pack spend their time ---------------------
/** @type {{op: string, summary: ReturnType<typeof summarise>, text: string}[]} */
const profiles = [];
if (flag('--profile')) {
  const profDir = path.join(OUT, 'prof');
  rm(profDir);
  for (const [op, args] of /** @type {[string, (o: string) => string[]][]} */ ([
    ['unpack big.tar', (o) => ['unpack', big.tar, '-o', o, '-q']],
    ['pack big', (o) => ['pack', PACK_SRC, '-o', o, '-q']],
  ])) {
    if (op.startsWith('pack') && !fs.existsSync(PACK_SRC)) continue;
    const dir = path.join(profDir, op.split(' ')[0] ?? op);
    const out = path.join(WORK, 'prof-out');
    rm(out);
    execFileSync('sync');
    if (QUIET_WAIT > 0) await waitQuiet(QUIET_WAIT);
    execFileSync(NODE, ['--cpu-prof', `--cpu-prof-dir=${dir}`, WHITEOUT, ...args(out)], { stdio: 'inherit' });
    rm(out);
    const file = path.join(dir, /** @type {string} */ (fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))));
    const s = summarise(file, SNAP);
    const text = formatSummary(s, `whiteout ${op}`);
    fs.writeFileSync(path.join(dir, 'summary.txt'), text);
    profiles.push({ op, summary: s, text });
  }
}
rm(PACK_SRC);

// ---- report ----------------------------------------------------------------
/** @param {{median: number, min: number, max: number} | undefined} s @param {number} [digits] */
const fmt = (s, digits = 2) => (s ? `${s.median.toFixed(digits)} [${s.min.toFixed(digits)}–${s.max.toFixed(digits)}]` : '—');
const lines = [];
lines.push(`whiteout benchmark (issue 7) — ${QUICK ? 'QUICK inputs' : 'full-size inputs'}, ${ROUNDS} round(s), seed "${SEED}", medians [min–max]; wall and CPU (user+sys) in s, peak RSS in MB`);
lines.push('');
const head = ['case', 'tool', 'wall s', 'cpu s', 'peak RSS MB', 'others busy (CPUs)'];
const rows = [head];
for (const r of results) {
  if (r.unavailable) rows.push([r.title, r.unavailable, '', '', '']);
  for (const t of r.tools) {
    if (!('wall' in t) || !t.wall) {
      rows.push([r.title, `${t.name}: no successful run`, '', '', '']);
      continue;
    }
    rows.push([r.title, t.name, fmt(t.wall), fmt(t.cpu), fmt(t.rssMB, 0), 'others' in t && t.others ? fmt(t.others) : '']);
  }
}
lines.push(table(rows));
lines.push('');
const rrows = [['case', 'whiteout / peer', 'wall ratio', 'CPU ratio', 'paired wall [min–max]', 'paired CPU [min–max]', 'best-of wall', 'target (wall)', 'whiteout peak RSS', 'verified']];
for (const r of results) {
  const ours = r.tools.find((t) => t.ours);
  const rss = ours && 'rssMB' in ours && ours.rssMB ? `${ours.rssMB.max.toFixed(0)} MB (target ≤ 200)` : '—';
  if (r.unavailable && !r.ratios.some((x) => x.wall !== null)) {
    rrows.push([r.title, r.unavailable, '—', '—', '—', '—', '—', r.target === null ? '' : `≤ ${r.target.toFixed(1)}×`, '—', r.verified]);
    continue;
  }
  for (const x of r.ratios) {
    const x2 = (/** @type {number | null} */ v) => (v === null ? '—' : `${v.toFixed(2)}×`);
    const pr = (/** @type {{median: number, min: number, max: number} | null} */ v) => (v === null ? '—' : `${v.median.toFixed(2)}× [${v.min.toFixed(2)}–${v.max.toFixed(2)}]`);
    rrows.push([r.title, `vs ${x.peer}`, x2(x.wall), x2(x.cpu), pr(x.wallPaired), pr(x.cpuPaired), x2(x.wallBest), r.target === null ? '' : `≤ ${r.target.toFixed(1)}×`, rss, r.verified]);
  }
}
lines.push(table(rrows));
lines.push('ratios: whiteout median / peer median; paired: median over rounds of whiteout / peer in the same round (back-to-back runs: the fairest on a shared host); best-of: whiteout min / peer min. "others busy": CPUs the rest of the VM used during the runs.');
if (huge.length) {
  lines.push('');
  lines.push(table([['--huge (stdin)', 'tool', 'wall s', 'cpu s', 'peak RSS MB', 'others busy', 'exit'], ...huge.map((h) => [h.case, h.tool, h.wall.toFixed(1), h.cpu.toFixed(1), h.rssMB.toFixed(0), h.others.toFixed(2), String(h.code)])]));
}
lines.push('');
lines.push(`machine: ${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGiB} GiB, ${machine.kernel}, node ${machine.node}${machine.nodeExtraCaCerts ? " (NODE_EXTRA_CA_CERTS set)" : ""}; bench/out on ${machine.benchOutFs}`);
lines.push(`peers: ${machine.gnuTar}; ${machine.gzip}; umoci ${machine.umoci}; node-tar ${nodeTarVersion}; whiteout ${machine.whiteout}`);
lines.push(`inputs: big.tar ${fmtCount(big)} (gz ${((big.gzBytes ?? 0) / 1e9).toFixed(2)} GB, zstd ${(fs.statSync(bigZst).size / 1e9).toFixed(2)} GB); wh10k.tar ${fmtCount(wh10k)}; image ${image.blobs.length} layers, ${(image.tarBytes / 1e9).toFixed(2)} GB uncompressed, ${(image.gzBytes / 1e9).toFixed(2)} GB gzip`);
lines.push(`outputs: ${WORK} on ${workFs}; cache: ${cacheNote}; sync before every timed run; outputs deleted between runs (untimed)`);
for (const p of profiles) lines.push('', p.text);
if (failures.length) lines.push('', 'FAILURES:', ...failures.map((f) => `  ${f}`));
const report = lines.join('\n');
process.stdout.write(`\n${report}\n`);

/** @param {string[][]} rs */
function table(rs) {
  const w = rs[0]?.map((_, i) => Math.max(...rs.map((r) => [...(r[i] ?? '')].length))) ?? [];
  return rs.map((r, j) => r.map((c, i) => c.padEnd(/** @type {number} */ (w[i]))).join('  ').trimEnd() + (j === 0 ? `\n${w.map((n) => '-'.repeat(n)).join('  ')}` : '')).join('\n');
}

const json = {
  issue: 7,
  date: new Date().toISOString(),
  quick: QUICK,
  rounds: ROUNDS,
  seed: SEED,
  machine,
  peers: { gnuTar: machine.gnuTar, umoci: machine.umoci, nodeTar: nodeTarVersion },
  work: { dir: WORK, fs: workFs },
  timing: { cpuAndRss: haveGnuTime ? '/usr/bin/time -f "%e %U %S %M" (rusage of the child and its waited-for descendants)' : 'bash time + /proc VmHWM poller', wall: 'hrtime around the child', cache: cacheNote },
  inputs: { big: { counts: big.counts, tarBytes: big.tarBytes, gzBytes: big.gzBytes }, wh10k: { counts: wh10k.counts, tarBytes: wh10k.tarBytes }, image: { counts: image.counts, tarBytes: image.tarBytes, gzBytes: image.gzBytes }, params: inputs.params },
  results,
  huge,
  profiles: profiles.map((p) => ({ op: p.op, ...p.summary })),
  failures,
  report,
};
const suffix = `${QUICK ? '-quick' : ''}${TAG ? `-${TAG}` : ''}`;
fs.writeFileSync(path.join(OUT, `results${suffix}.json`), `${JSON.stringify(json, null, 2)}\n`);
const png = renderChart({
  title: `whiteout vs peers${QUICK ? ' (quick inputs)' : ''}`,
  subtitle: `${ROUNDS} rounds, paired medians. ${machine.nproc} CPU ${machine.cpu}, ${machine.memoryGiB} GiB, ${machine.kernel}, node ${machine.node}`,
  ratios: results.flatMap((r) =>
    r.unavailable && !r.ratios.some((x) => x.wall !== null)
      ? [{ label: r.id, wall: null, cpu: null, target: r.target }]
      : r.ratios.map((x) => ({ label: `${r.id} / ${x.peer.split(' ').slice(0, 2).join(' ')}`, wall: x.wallPaired?.median ?? x.wall, cpu: x.cpuPaired?.median ?? x.cpu, target: r.target })),
  ),
  rss: results.flatMap((r) => r.tools.filter((t) => 'rssMB' in t && t.rssMB).map((t) => ({ label: `${r.id}: ${t.name}`, mb: 'rssMB' in t && t.rssMB ? t.rssMB.max : 0, ours: t.ours }))),
});
fs.writeFileSync(path.join(OUT, `results${suffix}.png`), png);
if (!QUICK && !ONLY.length) {
  // The committed copies are full-size runs of every case only, so they stay comparable.
  fs.copyFileSync(path.join(OUT, `results${suffix}.json`), path.join(BENCH, `results${suffix}.json`));
  fs.copyFileSync(path.join(OUT, `results${suffix}.png`), path.join(BENCH, `results${suffix}.png`));
}
log(`wrote ${path.relative(REPO, path.join(OUT, `results${suffix}.json`))} and .png${!QUICK && !ONLY.length ? `, copied to bench/results${suffix}.json and .png` : ''}`);
if (failures.length) {
  log(`${failures.length} failure(s): see above`);
  process.exitCode = 1;
}
