/**
 * Seeded standard-normal numbers that are bit-identical in every JS engine (browser, worker, Node).
 *
 * Algorithm:
 *  1. Seeding: splitmix32 expands the seed into the 128-bit xoshiro state. The seed may be any safe
 *     integer: its low 32 bits start the splitmix state, and its high bits are xor-ed into that state
 *     after the first word (so seeds >= 2^32 give distinct streams).
 *  2. Integers: xoshiro128** (Blackman & Vigna), using only Math.imul, shifts and `>>> 0`.
 *  3. Uniforms: two 32-bit outputs give a 53-bit integer k, u = k / 2^53 in [0, 1).
 *  4. Gaussians: Marsaglia's polar method. Draw x, y = 2u - 1 until 0 < s = x^2 + y^2 < 1, then
 *     x * m and y * m with m = sqrt(-2 ln(s) / s) are two independent N(0, 1) samples.
 *  5. ln(s) is computed here, not by Math.log (which engines are free to round differently):
 *     s = f * 2^e with f in [sqrt(1/2), sqrt(2)) found by exact doublings/halvings, then
 *     ln(f) = 2 atanh(r), r = (f - 1) / (f + 1), |r| < 0.1716, by its odd series to r^29
 *     (truncation error < 1e-23), and ln(s) = e * ln2 + ln(f) with ln2 split hi/lo.
 * Every step uses only + - * / and Math.sqrt, which IEEE-754 requires to be correctly rounded,
 * and JS forbids fused multiply-add, so each result is the same double everywhere.
 */

const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;
const SQRT_HALF = Math.SQRT1_2;
const SQRT_TWO = Math.SQRT2;
// ln 2 = LN2_HI + LN2_LO; LN2_HI has trailing zero bits so e * LN2_HI is exact for |e| < 2^11.
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;

function rotl32(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** splitmix32 step: returns [next state, output], both uint32. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return [next, (z ^ (z >>> 15)) >>> 0];
}

/** The 128-bit xoshiro128** state for a seed (never all zero). */
export function seedState(seed: number): Uint32Array {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / TWO_POW_32) >>> 0;
  const s = new Uint32Array(4);
  let state = lo;
  for (let i = 0; i < 4; i++) {
    if (i === 1) state = (state ^ hi) >>> 0;
    [state, s[i]] = splitmix32(state);
  }
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return s;
}

/** Natural logarithm of a positive finite double from basic operations only (see header). */
export function portableLog(x: number): number {
  if (!(x > 0) || x === Infinity) throw new RangeError(`portableLog needs a positive finite number, got ${x}`);
  let f = x;
  let e = 0;
  while (f >= SQRT_TWO) {
    f *= 0.5;
    e++;
  }
  while (f < SQRT_HALF) {
    f *= 2;
    e--;
  }
  const r = (f - 1) / (f + 1);
  const r2 = r * r;
  // Horner form of r * (2 + 2 r^2/3 + 2 r^4/5 + ... + 2 r^28/29)
  let poly = 2 / 29;
  for (let k = 27; k >= 1; k -= 2) poly = poly * r2 + 2 / k;
  return e * LN2_HI + (r * poly + e * LN2_LO);
}

/** Seeded generator of uint32, uniform [0, 1) and standard-normal numbers. */
export class Rng {
  private readonly s: Uint32Array;
  private spare = 0;
  private hasSpare = false;

  constructor(seed: number) {
    this.s = seedState(seed);
  }

  /** xoshiro128** output. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl32(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl32(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  nextUniform(): number {
    const a = this.nextUint32() >>> 5; // 27 bits
    const b = this.nextUint32() >>> 6; // 26 bits
    return (a * 67108864 + b) / TWO_POW_53;
  }

  /** Standard normal (Marsaglia polar method; the second value of each pair is kept for the next call). */
  nextGaussian(): number {
    if (this.hasSpare) {
      this.hasSpare = false;
      return this.spare;
    }
    let x: number;
    let y: number;
    let s: number;
    do {
      x = 2 * this.nextUniform() - 1;
      y = 2 * this.nextUniform() - 1;
      s = x * x + y * y;
    } while (s >= 1 || s === 0);
    const m = Math.sqrt((-2 * portableLog(s)) / s);
    this.spare = y * m;
    this.hasSpare = true;
    return x * m;
  }
}

/** n standard-normal float32 values for a seed: the initial noise of a generation. */
export function gaussianNoise(seed: number, n: number): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextGaussian();
  return out;
}

/** A seeded uniform [0, 1) source as a plain function, for code that draws through `() => number`. */
export function uniformSource(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.nextUniform();
}
