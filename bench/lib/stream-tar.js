// Streams a big layer tar to standard output, never to disk, for the --huge
// memory runs: `node bench/lib/stream-tar.js --bytes 10e9 | whiteout unpack - -o x`.
// A tiny ustar writer (short names only) is enough here; the realistic layers
// of the main benchmark are written by GNU tar instead.
//   --bytes N     stop after about N bytes of file contents (big files in the tail)
//   --entries N   stop after N entries (small files: the many-entries case)
//   --seed S
import { makeRng } from './rng.js';
import { makeCorpus, fileChunks } from './content.js';

/** @param {string} name @param {string} def */
function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? (process.argv[i + 1] ?? def) : def;
}
const maxBytes = Number(arg('--bytes', '0'));
const maxEntries = Number(arg('--entries', '0'));
const seed = arg('--seed', 'huge');
if (!maxBytes && !maxEntries) {
  process.stderr.write('usage: stream-tar.js --bytes N | --entries N [--seed S]\n');
  process.exit(2);
}
const rng = makeRng(seed);
const corpus = makeCorpus(rng.fork('corpus'), 8 << 20);

/** @param {Buffer} b @param {number} off @param {number} len @param {number} v */
function octal(b, off, len, v) {
  b.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, len, 'latin1');
}
/** @param {string} name @param {'0' | '5'} type @param {number} size @param {number} mode */
function header(name, type, size, mode) {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'latin1');
  octal(b, 100, 8, mode);
  octal(b, 108, 8, 0);
  octal(b, 116, 8, 0);
  octal(b, 124, 12, size);
  octal(b, 136, 12, 1650000000);
  b.fill(0x20, 148, 156);
  b.write(type, 156, 1, 'latin1');
  b.write('ustar\0' + '00', 257, 8, 'latin1');
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  return b;
}

// Batch writes into ~1 MiB; wait for 'drain' so memory stays flat whatever the size.
/** @type {Buffer[]} */
let pending = [];
let pendingLen = 0;
/** @param {Buffer} b */
async function emit(b) {
  pending.push(b);
  pendingLen += b.length;
  if (pendingLen >= 1 << 20) await flush();
}
async function flush() {
  const b = Buffer.concat(pending, pendingLen);
  pending = [];
  pendingLen = 0;
  if (!process.stdout.write(b)) await new Promise((r) => process.stdout.once('drain', r));
}
const PAD = Buffer.alloc(512);

let entries = 0;
let bytes = 0;
const done = () => (maxEntries && entries >= maxEntries) || (maxBytes && bytes >= maxBytes);
// 3-level tree: 20 group dirs × 50 sections × up to 1000 leaf dirs, ~50 entries per leaf dir. Names as long as a
// distro's: a path is ~62 bytes and its last name ~11 (the main layer's /usr: 58 and 9), which is what an index of
// paths pays for (src/path-index.ts).
const TOP = 'usr/share/package-data';
const group = (/** @type {number} */ k) => `${TOP}/group-${k}`;
for (let d = 0; !done(); d++) {
  const dir = `${group(d % 20)}/section-${Math.floor(d / 20) % 50}/leaf-${d}`;
  if (d === 0) for (const top of ['usr/', 'usr/share/', `${TOP}/`, ...Array.from({ length: 20 }, (_, k) => `${group(k)}/`)]) await emit(header(top, '5', 0, 0o755)), entries++;
  if (d < 1000 && d % 20 === 0) for (let k = 0; k < 20; k++) await emit(header(`${group(k)}/section-${Math.floor(d / 20)}/`, '5', 0, 0o755)), entries++;
  await emit(header(`${dir}/`, '5', 0, 0o755));
  entries++;
  for (let f = 0; f < 50 && !done(); f++) {
    const name = `${dir}/file-${f}.dat`;
    if (rng.next() < 0.01) {
      await emit(header(`${dir}/.wh.gone-${f}.dat`, '0', 0, 0o644)); // 1% whiteouts, as in the main layer
      entries++;
      continue;
    }
    let size;
    if (maxBytes) size = rng.next() < 0.002 ? Math.round(Math.exp(Math.log(4 << 20) + rng.next() * Math.log(16))) : Math.min(8 << 20, Math.round(3000 * Math.exp(1.8 * rng.normal())));
    else size = Math.min(1 << 20, Math.round(256 * Math.exp(1.2 * rng.normal())));
    await emit(header(name, '0', size, 0o644));
    for (const c of fileChunks(corpus, name, 'bin', size, rng.u32())) await emit(c);
    if (size % 512) await emit(PAD.subarray(0, 512 - (size % 512)));
    entries++;
    bytes += size;
  }
}
await emit(Buffer.alloc(1024));
await flush();
process.stderr.write(`stream-tar: ${entries} entries, ${bytes} bytes of contents\n`);
