import { describe, expect, it } from 'vitest';
import {
  batchRow,
  daamMap,
  daamMaps,
  headMeanMap,
  headSumMap,
  layerAttention,
  normalizeMap,
  tokenMap,
  upsampleBilinear,
  upsampleNearest,
  type LayerGeometry,
} from './heatmap';

/** A [heads, res*res, tokens] array whose value encodes its own indices, so a wrong stride shows. */
function indexed(heads: number, res: number, tokens: number): Float32Array {
  const a = new Float32Array(heads * res * res * tokens);
  for (let h = 0; h < heads; h++)
    for (let p = 0; p < res * res; p++)
      for (let t = 0; t < tokens; t++) a[(h * res * res + p) * tokens + t] = h * 10000 + p * 100 + t;
  return a;
}

/** Tent weight of bilinear interpolation at distance d. */
const tent = (d: number) => Math.max(0, 1 - Math.abs(d));

describe('token maps', () => {
  it('picks the token column of one head with the [heads, pixels, tokens] strides', () => {
    const a = layerAttention(indexed(3, 4, 5), { heads: 3, resolution: 4 }, 5);
    const m = tokenMap(a, 2, 3);
    expect(m.length).toBe(16);
    for (let p = 0; p < 16; p++) expect(m[p]).toBe(20000 + p * 100 + 3);
  });

  it('averages and sums over heads', () => {
    const a = layerAttention(indexed(3, 2, 2), { heads: 3, resolution: 2 }, 2);
    const sum = headSumMap(a, 1);
    const mean = headMeanMap(a, 1);
    for (let p = 0; p < 4; p++) {
      const expected = 0 + 10000 + 20000 + 3 * (p * 100 + 1);
      expect(sum[p]).toBe(expected);
      expect(mean[p]).toBeCloseTo(expected / 3, 3);
    }
  });

  it('reuses the out buffer instead of accumulating stale values', () => {
    const a = layerAttention(indexed(2, 2, 2), { heads: 2, resolution: 2 }, 2);
    const out = new Float32Array(4).fill(999);
    headSumMap(a, 0, out);
    expect(out[0]).toBe(10000);
  });

  it('rejects arrays whose length does not match the geometry, and out-of-range tokens', () => {
    expect(() => layerAttention(new Float32Array(10), { heads: 4, resolution: 8 }, 24)).toThrow(/needs 6144/);
    const a = layerAttention(indexed(1, 2, 3), { heads: 1, resolution: 2 }, 3);
    expect(() => tokenMap(a, 0, 3)).toThrow(/token 3/);
    expect(() => tokenMap(a, 1, 0)).toThrow(/head 1/);
  });

  it('views one batch row of a raw output without copying', () => {
    const g: LayerGeometry = { heads: 1, resolution: 2 };
    const raw = new Float32Array(2 * 4 * 3).map((_, i) => i);
    const row = batchRow(raw, 1, g, 3);
    expect(row.data.buffer).toBe(raw.buffer);
    expect(tokenMap(row, 0, 0)[0]).toBe(12);
    expect(() => batchRow(raw, 2, g, 3)).toThrow(/outside/);
  });
});

describe('bilinear upsampling', () => {
  it('turns a one-hot pixel into the separable tent bump (half-pixel centres)', () => {
    const src = new Float32Array(64);
    const [sx, sy] = [3, 4];
    src[sy * 8 + sx] = 1;
    const up = upsampleBilinear(src, 8, 8, 32, 32);
    let total = 0;
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) {
        const u = (x + 0.5) / 4 - 0.5;
        const v = (y + 0.5) / 4 - 0.5;
        expect(up[y * 32 + x]).toBeCloseTo(tent(u - sx) * tent(v - sy), 6);
        total += up[y * 32 + x];
      }
    // The peak falls between output pixels: 0.875^2 at the four centre pixels.
    expect(up[4 * 32 + 13]).toBe(0); // far above the bump
    expect(up[17 * 32 + 13]).toBeCloseTo(0.765625, 6);
    expect(up[18 * 32 + 14]).toBeCloseTo(0.765625, 6);
    // An interior bump keeps its mass: 4x upsampling multiplies the sum by 16.
    expect(total).toBeCloseTo(16, 5);
  });

  it('keeps a constant map constant, including at the clamped borders', () => {
    const up = upsampleBilinear(new Float32Array(9).fill(0.25), 3, 3, 7, 5);
    expect(up.length).toBe(35);
    for (const v of up) expect(v).toBeCloseTo(0.25, 7);
  });

  it('is the identity at the same size and handles non-square maps', () => {
    const src = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(upsampleBilinear(src, 3, 2, 3, 2))).toEqual([1, 2, 3, 4, 5, 6]);
    // A horizontal ramp stays a ramp in x and constant in y.
    const ramp = upsampleBilinear(Float32Array.from([0, 1, 0, 1]), 2, 2, 4, 4);
    expect(Array.from(ramp.subarray(0, 4))).toEqual([0, 0.25, 0.75, 1]);
    expect(Array.from(ramp.subarray(12, 16))).toEqual([0, 0.25, 0.75, 1]);
  });

  it('nearest keeps the cells', () => {
    const up = upsampleNearest(Float32Array.from([1, 2, 3, 4]), 2, 2, 4, 4);
    expect(Array.from(up)).toEqual([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]);
  });
});

describe('normalisation', () => {
  it('max, minmax and sum', () => {
    expect(Array.from(normalizeMap(Float32Array.from([1, 2, 4]), 'max'))).toEqual([0.25, 0.5, 1]);
    expect(Array.from(normalizeMap(Float32Array.from([2, 3, 6]), 'minmax'))).toEqual([0, 0.25, 1]);
    expect(Array.from(normalizeMap(Float32Array.from([1, 1, 2]), 'sum'))).toEqual([0.25, 0.25, 0.5]);
    expect(Array.from(normalizeMap(Float32Array.from([3, 5]), 'none'))).toEqual([3, 5]);
  });

  it('zero or flat maps become zeros, never NaN', () => {
    expect(Array.from(normalizeMap(new Float32Array(3), 'max'))).toEqual([0, 0, 0]);
    expect(Array.from(normalizeMap(new Float32Array(3).fill(2), 'minmax'))).toEqual([0, 0, 0]);
    expect(Array.from(normalizeMap(new Float32Array(3), 'sum'))).toEqual([0, 0, 0]);
  });
});

describe('DAAM aggregation', () => {
  // Two layers at different resolutions, 2 heads, 3 tokens, 3 steps of random softmax rows.
  const layers: LayerGeometry[] = [
    { heads: 2, resolution: 4 },
    { heads: 2, resolution: 2 },
  ];
  const T = 3;
  let seed = 12345;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const softmaxRows = (g: LayerGeometry) => {
    const a = new Float32Array(g.heads * g.resolution * g.resolution * T);
    for (let r = 0; r < a.length / T; r++) {
      let z = 0;
      for (let t = 0; t < T; t++) z += a[r * T + t] = Math.exp(3 * rand());
      for (let t = 0; t < T; t++) a[r * T + t] /= z;
    }
    return a;
  };
  const steps = [0, 1, 2].map(() => layers.map(softmaxRows));

  /** The definition written out longhand: per step, layer, head, upsample then add. */
  function manual(token: number, stepIdx: number[], layerIdx: number[]): Float32Array {
    const acc = new Float32Array(64);
    for (const s of stepIdx)
      for (const l of layerIdx) {
        const a = layerAttention(steps[s][l], layers[l], T);
        for (let h = 0; h < layers[l].heads; h++) {
          const up = upsampleBilinear(tokenMap(a, h, token), layers[l].resolution, layers[l].resolution, 8, 8);
          for (let i = 0; i < 64; i++) acc[i] += up[i];
        }
      }
    return acc;
  }

  it('equals the manual sum over heads, layers and steps before normalising', () => {
    const got = daamMap(steps, layers, T, 1, { width: 8, height: 8, normalize: 'none' });
    const want = manual(1, [0, 1, 2], [0, 1]);
    for (let i = 0; i < 64; i++) expect(got[i]).toBeCloseTo(want[i], 5);
  });

  it('restricts to chosen steps and layers', () => {
    const got = daamMap(steps, layers, T, 2, { width: 8, height: 8, normalize: 'none', steps: [2], layers: [1] });
    const want = manual(2, [2], [1]);
    for (let i = 0; i < 64; i++) expect(got[i]).toBeCloseTo(want[i], 5);
  });

  it('summed over all tokens, each pixel gets heads x layers x steps (rows are softmaxes)', () => {
    const maps = daamMaps(steps, layers, T, [0, 1, 2], { width: 8, height: 8, normalize: 'none' });
    for (let i = 0; i < 64; i++) expect(maps[0][i] + maps[1][i] + maps[2][i]).toBeCloseTo(2 * 2 * 3, 4);
  });

  it("normalises with 'max' by default so the peak is exactly 1", () => {
    const got = daamMap(steps, layers, T, 0, { width: 8, height: 8 });
    expect(Math.max(...got)).toBe(1);
    expect(Math.min(...got)).toBeGreaterThan(0);
  });

  it('names a missing step instead of reading garbage', () => {
    expect(() => daamMap(steps, layers, T, 0, { width: 8, height: 8, steps: [5] })).toThrow(/step 5/);
  });
});
