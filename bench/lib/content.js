// File contents for the generated layers. gzip must do real work, as on a real
// /usr: so not zeros and not pure noise, but three corpora that compress like
// the real thing (text ~3-4x, machine code ~2x, already-compressed data ~1x).
// Each file is a slice of one corpus at a seeded offset, prefixed by its own
// path so no two files are byte-identical.
import fs from 'node:fs';

/** @typedef {'text' | 'bin' | 'rand'} Kind */
/** @typedef {Record<Kind, Buffer>} Corpus */

/** @param {import('./rng.js').Rng} rng @param {number} n */
function words(rng, n) {
  const syll = ['ar', 'be', 'co', 'da', 'el', 'fi', 'go', 'ha', 'in', 'jo', 'ka', 'li', 'mo', 'ne', 'or', 'pu', 'qu', 're', 'si', 'to', 'un', 've', 'wa', 'xi', 'yo', 'ze', 'str', 'ptr', 'len', 'buf', 'int', 'set', 'get', 'init', 'free', 'lock'];
  const out = [];
  for (let i = 0; i < n; i++) {
    let w = '';
    const k = 1 + rng.int(4);
    for (let j = 0; j < k; j++) w += rng.pick(syll);
    out.push(w);
  }
  return out;
}

/** Zipf-ish pick: small indexes much more often, as word frequencies are. @param {import('./rng.js').Rng} rng @param {number} n */
function zipf(rng, n) {
  return Math.min(n - 1, Math.floor(Math.exp(rng.next() * Math.log(n + 1))) - 1);
}

/** @param {import('./rng.js').Rng} rng @param {number} size */
function textCorpus(rng, size) {
  const vocab = words(rng, 3000);
  const punct = [' = ', '(', ');', ', ', ' {', '}', ' -> ', '. ', ': ', ' # ', ' + '];
  const parts = [];
  let len = 0;
  while (len < size) {
    let line = ' '.repeat(2 * rng.int(5));
    const n = 3 + rng.int(12);
    for (let i = 0; i < n; i++) {
      line += vocab[zipf(rng, vocab.length)];
      line += rng.next() < 0.3 ? rng.pick(punct) : ' ';
      if (rng.next() < 0.05) line += String(rng.int(100000));
    }
    line += '\n';
    parts.push(line);
    len += line.length;
  }
  return Buffer.from(parts.join(''), 'latin1').subarray(0, size);
}

/** Machine-code-like bytes: skewed opcodes, zero padding, small-integer tables, embedded strings. @param {import('./rng.js').Rng} rng @param {number} size */
function binCorpus(rng, size) {
  const buf = Buffer.alloc(size);
  const common = Buffer.from(Array.from({ length: 48 }, () => rng.int(256)));
  const strings = Buffer.from(words(rng, 400).join('\0'), 'latin1');
  let i = 0;
  while (i < size) {
    const mode = rng.next();
    const n = Math.min(size - i, 16 + rng.int(1024));
    if (mode < 0.5) {
      // "code": mostly a few dozen common byte values, some arbitrary ones
      for (let j = 0; j < n; j++) buf[i + j] = rng.next() < 0.85 ? /** @type {number} */ (common[zipf(rng, common.length)]) : rng.int(256);
    } else if (mode < 0.68) {
      // padding and .bss-like runs stay zero (Buffer.alloc)
    } else if (mode < 0.85) {
      // relocation/symbol tables: little-endian small integers
      for (let j = 0; j + 4 <= n; j += 4) buf.writeUInt32LE(rng.int(rng.next() < 0.5 ? 256 : 65536), i + j);
    } else {
      const off = rng.int(strings.length - n > 0 ? strings.length - n : 1);
      strings.copy(buf, i, off, off + n);
    }
    i += n;
  }
  return buf;
}

/** @param {import('./rng.js').Rng} rng @param {number} size */
function randCorpus(rng, size) {
  const buf = Buffer.alloc(size);
  for (let i = 0; i + 4 <= size; i += 4) buf.writeUInt32LE(rng.u32(), i);
  return buf;
}

/** @param {import('./rng.js').Rng} rng @param {number} bytesPerKind @returns {Corpus} */
export function makeCorpus(rng, bytesPerKind) {
  return {
    text: textCorpus(rng.fork('text'), bytesPerKind),
    bin: binCorpus(rng.fork('bin'), bytesPerKind),
    rand: randCorpus(rng.fork('rand'), bytesPerKind),
  };
}

/**
 * The bytes of one file, as a list of slices (no copy of the corpus).
 * @param {Corpus} corpus @param {string} path @param {Kind} kind @param {number} size @param {number} seed
 * @returns {Buffer[]}
 */
export function fileChunks(corpus, path, kind, size, seed) {
  if (size === 0) return [];
  const src = corpus[kind];
  const head = Buffer.from(`${kind === 'text' ? '#' : '\x7fBIN'} ${path}\n`, 'latin1').subarray(0, size);
  const out = [head];
  let left = size - head.length;
  let s = seed >>> 0;
  while (left > 0) {
    const n = Math.min(left, src.length >>> 1);
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const off = s % (src.length - n + 1);
    out.push(src.subarray(off, off + n));
    left -= n;
  }
  return out;
}

/** @param {string} file @param {Buffer[]} chunks @param {number} mode */
export function writeChunks(file, chunks, mode) {
  const fd = fs.openSync(file, 'wx', mode);
  try {
    for (const c of chunks) {
      let off = 0;
      while (off < c.length) off += fs.writeSync(fd, c, off, c.length - off);
    }
  } finally {
    fs.closeSync(fd);
  }
}
