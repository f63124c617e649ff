// A dependency-free PNG bar chart: an RGB canvas, a 5x7 bitmap font, and a PNG
// encoder (zlib from Node, CRC-32 by table). No ImageMagick, no rsvg, no npm
// packages, so `npm run bench` draws the same picture on any machine.
import zlib from 'node:zlib';

// 5x7 glyphs, one 5-bit row per number (HD44780-style). Lowercase is drawn as uppercase.
/** @type {Record<string, number[]>} */
const FONT = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  0: [14, 17, 19, 21, 25, 17, 14], 1: [4, 12, 4, 4, 4, 4, 14], 2: [14, 17, 1, 2, 4, 8, 31], 3: [31, 2, 4, 2, 1, 17, 14],
  4: [2, 6, 10, 18, 31, 2, 2], 5: [31, 16, 30, 1, 1, 17, 14], 6: [6, 8, 16, 30, 17, 17, 14], 7: [31, 1, 2, 4, 8, 8, 8],
  8: [14, 17, 17, 14, 17, 17, 14], 9: [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 17, 31, 17, 17], B: [30, 17, 17, 30, 17, 17, 30], C: [14, 17, 16, 16, 16, 17, 14], D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31], F: [31, 16, 16, 30, 16, 16, 16], G: [14, 17, 16, 23, 17, 17, 15], H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14], J: [7, 2, 2, 2, 2, 18, 12], K: [17, 18, 20, 24, 20, 18, 17], L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17], N: [17, 17, 25, 21, 19, 17, 17], O: [14, 17, 17, 17, 17, 17, 14], P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13], R: [30, 17, 17, 30, 20, 18, 17], S: [15, 16, 16, 14, 1, 1, 30], T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14], V: [17, 17, 17, 17, 17, 10, 4], W: [17, 17, 17, 21, 21, 21, 10], X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 17, 10, 4, 4, 4], Z: [31, 1, 2, 4, 8, 16, 31],
  '.': [0, 0, 0, 0, 0, 12, 12], ',': [0, 0, 0, 0, 12, 4, 8], ':': [0, 12, 12, 0, 12, 12, 0], '-': [0, 0, 0, 31, 0, 0, 0],
  '+': [0, 4, 4, 31, 4, 4, 0], '/': [0, 1, 2, 4, 8, 16, 0], '(': [2, 4, 8, 8, 8, 4, 2], ')': [8, 4, 2, 2, 2, 4, 8],
  '%': [24, 25, 2, 4, 8, 19, 3], '<': [2, 4, 8, 16, 8, 4, 2], '>': [8, 4, 2, 1, 2, 4, 8], '=': [0, 0, 31, 0, 31, 0, 0],
  _: [0, 0, 0, 0, 0, 0, 31], '[': [14, 8, 8, 8, 8, 8, 14], ']': [14, 2, 2, 2, 2, 2, 14], '×': [0, 0, 17, 10, 4, 10, 17],
  '|': [4, 4, 4, 4, 4, 4, 4], '#': [10, 10, 31, 10, 31, 10, 10], '*': [0, 4, 21, 14, 21, 4, 0], '?': [14, 17, 1, 2, 4, 0, 4],
};

/** @typedef {[number, number, number]} RGB */

class Canvas {
  /** @param {number} w @param {number} h */
  constructor(w, h) {
    this.w = w;
    this.h = h;
    this.px = Buffer.alloc(w * h * 3, 255);
  }
  /** @param {number} x @param {number} y @param {number} w @param {number} h @param {RGB} c */
  rect(x, y, w, h, c) {
    const x0 = Math.max(0, Math.round(x)), y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.w, Math.round(x + w)), y1 = Math.min(this.h, Math.round(y + h));
    for (let j = y0; j < y1; j++) for (let i = x0; i < x1; i++) this.px.set(c, (j * this.w + i) * 3);
  }
  /** @param {number} x @param {number} y @param {string} s @param {RGB} [c] @param {number} [scale] */
  text(x, y, s, c = [0, 0, 0], scale = 2) {
    let cx = x;
    for (const ch of s) {
      const g = FONT[ch] ?? FONT[ch.toUpperCase()] ?? FONT['?'];
      for (let r = 0; r < 7; r++) for (let b = 0; b < 5; b++) if ((/** @type {number[]} */ (g)[r] ?? 0) & (16 >> b)) this.rect(cx + b * scale, y + r * scale, scale, scale, c);
      cx += 6 * scale;
    }
  }
  /** @param {string} s @param {number} [scale] */
  static width(s, scale = 2) {
    return [...s].length * 6 * scale;
  }
}

const CRC = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
/** @param {Buffer} b */
function crc32(b) {
  let c = -1;
  for (const x of b) c = /** @type {number} */ (CRC[(c ^ x) & 255]) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
/** @param {string} type @param {Buffer} data */
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** @param {Canvas} cv */
function encodePng(cv) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(cv.w, 0);
  ihdr.writeUInt32BE(cv.h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const raw = Buffer.alloc((cv.w * 3 + 1) * cv.h);
  for (let y = 0; y < cv.h; y++) cv.px.copy(raw, y * (cv.w * 3 + 1) + 1, y * cv.w * 3, (y + 1) * cv.w * 3); // filter 0 per row
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

const BLUE = /** @type {RGB} */ ([52, 101, 164]);
const ORANGE = /** @type {RGB} */ ([230, 140, 40]);
const GREY = /** @type {RGB} */ ([150, 150, 150]);
const RED = /** @type {RGB} */ ([200, 40, 40]);
const GREEN = /** @type {RGB} */ ([60, 150, 60]);

/**
 * @typedef {object} RatioBar
 * @property {string} label
 * @property {number | null} wall   whiteout / peer, wall time
 * @property {number | null} cpu    whiteout / peer, user+sys
 * @property {number | null} target the target for the wall ratio, if any
 */
/**
 * @typedef {object} RssBar
 * @property {string} label
 * @property {number} mb
 * @property {boolean} ours
 */

/**
 * Two panels: ratios (whiteout / peer, wall and CPU; 1.0 = parity, dashes = target),
 * then the peak RSS of every tool (red line: the 200 MB target).
 * @param {{title: string, subtitle: string, ratios: RatioBar[], rss: RssBar[]}} d
 */
export function renderChart(d) {
  const W = 1200;
  const labelW = 450;
  const rowH = 44;
  const top = 110;
  const ratioH = d.ratios.length * rowH + 60;
  const rssRow = 22;
  const rssTop = top + ratioH + 70;
  const H = rssTop + d.rss.length * rssRow + 70;
  const cv = new Canvas(W, H);
  cv.text(20, 16, d.title, [0, 0, 0], 3);
  cv.text(20, 50, d.subtitle, [80, 80, 80], 2);
  cv.rect(20, 80, 16, 12, BLUE);
  cv.text(42, 80, 'wall', [0, 0, 0], 2);
  cv.rect(110, 80, 16, 12, ORANGE);
  cv.text(132, 80, 'CPU (user+sys)', [0, 0, 0], 2);
  cv.text(340, 80, 'whiteout / peer: < 1 is faster. dashes: target', [80, 80, 80], 2);

  const plotX = labelW + 20;
  const plotW = W - plotX - 120;
  const maxR = Math.max(2, ...d.ratios.flatMap((r) => [r.wall ?? 0, r.cpu ?? 0]));
  const sx = (/** @type {number} */ v) => plotX + (Math.min(v, maxR) / maxR) * plotW;
  // gridlines at each whole ratio
  const step = maxR > 12 ? 5 : maxR > 6 ? 2 : 1;
  for (let v = 0; v <= maxR; v += step) {
    cv.rect(sx(v), top - 6, 1, ratioH - 40, [225, 225, 225]);
    cv.text(sx(v) - 6, top + ratioH - 40, `${v}`, [100, 100, 100], 2);
  }
  cv.rect(sx(1), top - 6, 2, ratioH - 40, [0, 0, 0]);
  d.ratios.forEach((r, i) => {
    const y = top + i * rowH;
    cv.text(20, y + 8, r.label.slice(0, 35), [0, 0, 0], 2);
    if (r.wall === null) {
      cv.text(plotX + 10, y + 8, 'not available yet', GREY, 2);
      return;
    }
    cv.rect(plotX, y, sx(r.wall) - plotX, 16, BLUE);
    cv.text(sx(r.wall) + 6, y + 1, `${r.wall.toFixed(2)}×`, BLUE, 2);
    if (r.cpu !== null) {
      cv.rect(plotX, y + 18, sx(r.cpu) - plotX, 16, ORANGE);
      cv.text(sx(r.cpu) + 6, y + 19, `${r.cpu.toFixed(2)}×`, ORANGE, 2);
    }
    if (r.target !== null) for (let yy = y - 2; yy < y + 36; yy += 6) cv.rect(sx(r.target) - 1, yy, 3, 3, GREEN);
  });

  cv.text(20, rssTop - 40, 'peak RSS, MB (red: the 200 MB target for whiteout)', [0, 0, 0], 2);
  const maxM = Math.max(250, ...d.rss.map((r) => r.mb));
  const mx = (/** @type {number} */ v) => plotX + (v / maxM) * plotW;
  d.rss.forEach((r, i) => {
    const y = rssTop + i * rssRow;
    cv.text(20, y + 2, r.label.slice(0, 35), [0, 0, 0], 2);
    cv.rect(plotX, y, mx(r.mb) - plotX, 16, r.ours ? BLUE : GREY);
    cv.text(mx(r.mb) + 6, y + 2, `${Math.round(r.mb)}`, [60, 60, 60], 2);
  });
  cv.rect(mx(200), rssTop - 6, 2, d.rss.length * rssRow + 8, RED);
  return encodePng(cv);
}
