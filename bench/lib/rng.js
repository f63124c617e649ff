// Deterministic randomness for the input generator: the same seed must give the
// same layers on every machine and Node version, so no Math.random and no
// floating-point-order surprises (sfc32 is pure 32-bit integer arithmetic).

/**
 * @typedef {object} Rng
 * @property {() => number} next       uniform in [0, 1)
 * @property {() => number} u32        uniform 32-bit unsigned integer
 * @property {(n: number) => number} int  uniform integer in [0, n)
 * @property {<T>(a: readonly T[]) => T} pick
 * @property {() => number} normal     standard normal (Box–Muller)
 * @property {(label: string) => Rng} fork  an independent stream, so adding draws in one part of the
 *   generator does not shift every later part
 */

/** @param {string} s @returns {[number, number, number, number]} */
function cyrb128(s) {
  let h1 = 1779033703, h2 = 3144134277, h3 = 1013904242, h4 = 2773480762;
  for (let i = 0; i < s.length; i++) {
    const k = s.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

/** @param {string} seed @returns {Rng} */
export function makeRng(seed) {
  let [a, b, c, d] = cyrb128(seed);
  const u32 = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 15; i++) u32();
  const next = () => u32() / 4294967296;
  /** @type {Rng} */
  const rng = {
    next,
    u32,
    int: (n) => Math.floor(next() * n),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
    normal: () => {
      const u = 1 - next();
      const v = next();
      return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    },
    fork: (label) => makeRng(`${seed}/${label}`),
  };
  return rng;
}
