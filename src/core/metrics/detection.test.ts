import { describe, expect, it } from 'vitest';
import {
  attentionEntropy,
  attentionStatistics,
  noiseDifferenceNorm,
  noiseGapScore,
  roc,
  seedConsistency,
  ssim,
  startTokenMass,
  tokenMaskFromIds,
  tokenMass,
  tprAtFpr,
} from './detection';
import { Rng } from '../rng';

const SHAPE = { channels: 3, height: 32, width: 32 };
const noise = (r: Rng, scale = 1) => Float32Array.from({ length: 3072 }, () => scale * r.nextGaussian());

describe('Wen et al. noise gap', () => {
  it('is the L2 norm of the difference per step, averaged over the first k steps', () => {
    expect(noiseDifferenceNorm(Float32Array.of(3, 1), Float32Array.of(0, 5))).toBe(5);
    expect(noiseGapScore([1, 2, 3, 100], 3)).toBe(2);
    expect(noiseGapScore([4, 6], 10)).toBe(5); // fewer steps than k: all of them
    expect(() => noiseGapScore([], 1)).toThrow(RangeError);
    expect(() => noiseGapScore([1], 0)).toThrow(RangeError);
    expect(() => noiseDifferenceNorm(new Float32Array(2), new Float32Array(3))).toThrow(RangeError);
  });
});

describe('Ren et al. attention statistics', () => {
  const T = 24;
  /** heads x pixels rows, each filled by fn(row) -> distribution over T tokens */
  function probs(heads: number, pixels: number, fn: (row: number) => number[]): Float32Array {
    const out = new Float32Array(heads * pixels * T);
    for (let r = 0; r < heads * pixels; r++) out.set(fn(r), r * T);
    return out;
  }
  const g = { heads: 2, pixels: 4, tokens: T };
  const uniform = () => new Array(T).fill(1 / T);
  const oneHot = (t: number) => Array.from({ length: T }, (_, i) => (i === t ? 1 : 0));

  it('is ln(T) for uniform attention and 0 for attention on one token', () => {
    expect(attentionEntropy(probs(2, 4, uniform), g)).toBeCloseTo(Math.log(T), 6);
    expect(
      attentionEntropy(
        probs(2, 4, () => oneHot(3)),
        g,
      ),
    ).toBeCloseTo(0, 12);
  });

  it('renormalises over real tokens when padding is ignored', () => {
    const ids = [1, 10, 11, 12, 2, ...new Array(T - 5).fill(0)];
    const mask = tokenMaskFromIds(ids, 0);
    expect([...mask].filter(Boolean)).toHaveLength(5);
    expect(attentionEntropy(probs(2, 4, uniform), g, { tokenMask: mask })).toBeCloseTo(Math.log(5), 6);
  });

  it("separates Ren's distribution entropy from the mean per-query entropy", () => {
    const split = probs(2, 4, (r) => oneHot(r % 2)); // each query certain, the layer split over 2 tokens
    expect(attentionEntropy(split, g)).toBeCloseTo(Math.log(2), 6);
    expect(attentionEntropy(split, g, { average: 'query' })).toBeCloseTo(0, 12);
  });

  it('measures the start-token mass and per-token mass', () => {
    const p = probs(2, 4, (r) => (r < 4 ? oneHot(0) : uniform()));
    expect(startTokenMass(p, g)).toBeCloseTo(0.5 + 0.5 / T, 6);
    const m = tokenMass(p, g);
    expect(m[0]).toBeCloseTo(0.5 + 0.5 / T, 6);
    expect(m.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 6);
  });

  it('collects entropy and <bos> mass per step and layer', () => {
    const layers = [
      { heads: 2, resolution: 2 },
      { heads: 1, resolution: 4 },
    ];
    const steps = [
      [probs(2, 4, uniform), new Float32Array(16 * T).map((_, i) => (i % T === 0 ? 1 : 0))],
      [probs(2, 4, () => oneHot(1)), new Float32Array(16 * T).fill(1 / T)],
    ];
    const s = attentionStatistics(steps, layers, T);
    expect(s.entropy.map((row) => row.map((v) => +v.toFixed(6)))).toEqual([
      [+Math.log(T).toFixed(6), 0],
      [0, +Math.log(T).toFixed(6)],
    ]);
    expect(s.startMass[0][1]).toBeCloseTo(1, 6);
    expect(s.startMass[1][0]).toBe(0);
  });

  it('refuses arrays of the wrong size', () => {
    expect(() => attentionEntropy(new Float32Array(5), g)).toThrow(RangeError);
    expect(() => attentionEntropy(probs(2, 4, uniform), g, { tokenMask: [1, 1] })).toThrow(RangeError);
  });
});

/** Direct, unoptimised SSIM (2-D Gaussian window, valid region): an independent check. */
function naiveSsim(a: Float32Array, b: Float32Array, L: number): number {
  const w: number[] = [];
  for (let i = 0; i < 11; i++) w.push(Math.exp(-((i - 5) ** 2) / 4.5));
  const sw = w.reduce((s, v) => s + v, 0);
  const c1 = (0.01 * L) ** 2;
  const c2 = (0.03 * L) ** 2;
  let total = 0;
  let count = 0;
  for (let c = 0; c < 3; c++)
    for (let y = 0; y <= 21; y++)
      for (let x = 0; x <= 21; x++) {
        let ma = 0,
          mb = 0,
          aa = 0,
          bb = 0,
          ab = 0;
        for (let j = 0; j < 11; j++)
          for (let i = 0; i < 11; i++) {
            const k = (w[j] * w[i]) / (sw * sw);
            const va = a[c * 1024 + (y + j) * 32 + x + i];
            const vb = b[c * 1024 + (y + j) * 32 + x + i];
            ma += k * va;
            mb += k * vb;
            aa += k * va * va;
            bb += k * vb * vb;
            ab += k * va * vb;
          }
        const sa = aa - ma * ma,
          sb = bb - mb * mb,
          sab = ab - ma * mb;
        total += ((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma * ma + mb * mb + c1) * (sa + sb + c2));
        count++;
      }
  return total / count;
}

describe('SSIM and NeMo seed consistency', () => {
  it('is 1 for identical images and matches a direct computation on random ones', () => {
    const r = new Rng(1);
    const a = noise(r);
    const b = a.map((v) => 0.6 * v + 0.4 * r.nextGaussian());
    expect(ssim(a, a, SHAPE)).toBeCloseTo(1, 10);
    expect(ssim(a, b, SHAPE, { dataRange: 2 })).toBeCloseTo(naiveSsim(a, b, 2), 8);
    expect(ssim(a, b, SHAPE, { dataRange: 2 })).toBeCloseTo(ssim(b, a, SHAPE, { dataRange: 2 }), 12);
  });

  it('gives the closed-form value for two flat images (only the luminance term differs)', () => {
    const zeros = new Float32Array(3072);
    const ones = new Float32Array(3072).fill(1);
    expect(ssim(zeros, ones, SHAPE, { dataRange: 1 })).toBeCloseTo(1e-4 / 1.0001, 12);
    expect(ssim(zeros, zeros, SHAPE)).toBe(1);
  });

  it('is near 0 for independent noise', () => {
    const r = new Rng(2);
    expect(Math.abs(ssim(noise(r), noise(r), SHAPE))).toBeLessThan(0.05);
  });

  it('is negative for a negated image on a flat positive base (luminance equal, structure opposite)', () => {
    // (SSIM of plain a vs -a is NOT near -1: where local means are non-zero the luminance term is
    // negative too and the product turns positive. An offset keeps the means equal instead.)
    const r = new Rng(3);
    const a = noise(r, 0.1);
    const s = ssim(
      a.map((v) => 1 + v),
      a.map((v) => 1 - v),
      SHAPE,
    );
    expect(s).toBeLessThan(-0.9);
  });

  it('scores a shared pattern across seeds far above independent differences', () => {
    const r = new Rng(4);
    const pattern = noise(r);
    const memorized = Array.from({ length: 10 }, () => pattern.map((v) => v + 0.1 * r.nextGaussian()));
    const neutral = Array.from({ length: 10 }, () => noise(r));
    const m = seedConsistency(memorized, SHAPE);
    const n = seedConsistency(neutral, SHAPE);
    expect(m.pairs).toHaveLength(45);
    expect(m.score).toBeGreaterThan(0.9);
    expect(n.score).toBeLessThan(0.1);
    const mean = seedConsistency(neutral, SHAPE, 'mean').score;
    expect(mean).toBeLessThanOrEqual(n.score);
    expect(mean).toBeCloseTo(n.pairs.reduce((s, v) => s + v, 0) / 45, 12);
  });

  it('refuses too few seeds and mismatched sizes', () => {
    expect(() => seedConsistency([new Float32Array(3072)], SHAPE)).toThrow(RangeError);
    expect(() => ssim(new Float32Array(3), new Float32Array(3), SHAPE)).toThrow(RangeError);
  });
});

describe('ROC', () => {
  it('is perfect for separated scores and a coin flip for identical ones', () => {
    const sep = roc([5, 6, 7], [1, 2, 3, 4]);
    expect(sep.auc).toBe(1);
    expect(sep.tprAt1PctFpr).toBe(1);
    expect(sep.points[0]).toEqual({ fpr: 0, tpr: 0, threshold: Infinity });
    expect(sep.points.at(-1)).toMatchObject({ fpr: 1, tpr: 1 });
    const tied = roc([1, 1], [1, 1, 1]);
    expect(tied.auc).toBe(0.5);
    expect(tied.points).toEqual([
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 1, tpr: 1, threshold: 1 },
    ]);
    expect(roc([0], [1]).auc).toBe(0);
  });

  it('equals the Mann-Whitney probability (ties count half) on random scores', () => {
    const r = new Rng(9);
    const pos = Array.from({ length: 137 }, () => Math.round(r.nextUniform() * 20 + 3));
    const neg = Array.from({ length: 211 }, () => Math.round(r.nextUniform() * 20));
    let wins = 0;
    for (const p of pos) for (const n of neg) wins += p > n ? 1 : p === n ? 0.5 : 0;
    expect(roc(pos, neg).auc).toBeCloseTo(wins / (pos.length * neg.length), 12);
  });

  it('reads TPR at a fixed FPR from the operating points', () => {
    // 100 negatives at 0..99, positives: 50 above every negative, 50 at 98.5 (between the top two)
    const neg = Array.from({ length: 100 }, (_, i) => i);
    const pos = [...new Array(50).fill(200), ...new Array(50).fill(98.5)];
    const c = roc(pos, neg);
    expect(c.tprAt1PctFpr).toBe(1); // one negative (99) above 98.5: FPR 1%
    expect(tprAtFpr(c.points, 0)).toBe(0.5);
    expect(() => roc([], [1])).toThrow(RangeError);
    expect(() => roc([Number.NaN], [1])).toThrow(RangeError);
  });
});
