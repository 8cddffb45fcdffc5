import { describe, expect, it } from 'vitest';
import { layerAttention, type LayerGeometry } from './heatmap';
import { headTokenMass, summarizeLayer, summarizeLayers, summarizeSteps } from './summary';

/** Every (head, pixel) row is the same distribution. */
function uniformRows(g: LayerGeometry, row: number[]): Float32Array {
  const n = g.heads * g.resolution * g.resolution;
  const a = new Float32Array(n * row.length);
  for (let r = 0; r < n; r++) a.set(row, r * row.length);
  return a;
}

describe('layer summaries', () => {
  const g: LayerGeometry = { heads: 2, resolution: 2 };

  it('uniform attention has entropy ln(T) and normalised entropy 1', () => {
    const s = summarizeLayer(layerAttention(uniformRows(g, [0.25, 0.25, 0.25, 0.25]), g, 4));
    expect(s.entropy).toBeCloseTo(Math.log(4), 6);
    expect(s.normalizedEntropy).toBeCloseTo(1, 6);
    expect(s.bosMass).toBeCloseTo(0.25, 6);
  });

  it('one-hot attention has entropy 0 and all mass on that token', () => {
    const s = summarizeLayer(layerAttention(uniformRows(g, [1, 0, 0, 0]), g, 4));
    expect(s.entropy).toBe(0);
    expect(s.bosMass).toBe(1);
    expect(Array.from(s.tokenMass)).toEqual([1, 0, 0, 0]);
  });

  it('averages entropy over heads and pixels', () => {
    // head 0 uniform over 2 of 4 tokens (ln 2), head 1 one-hot (0): mean ln2 / 2.
    const a = new Float32Array(2 * 4 * 4);
    for (let p = 0; p < 4; p++) {
      a.set([0.5, 0.5, 0, 0], p * 4);
      a.set([0, 0, 1, 0], (4 + p) * 4);
    }
    const s = summarizeLayer(layerAttention(a, g, 4));
    expect(s.entropy).toBeCloseTo(Math.log(2) / 2, 6);
    expect(Array.from(s.tokenMass)).toEqual([0.25, 0.25, 0.5, 0]);
    expect(s.bosMass).toBe(0.25);
  });

  it('summarises per step and averages over chosen steps', () => {
    const layers = [g];
    const steps = [[uniformRows(g, [1, 0, 0, 0])], [uniformRows(g, [0, 1, 0, 0])]];
    const per = summarizeSteps(steps, layers, 4);
    expect(per[0][0].bosMass).toBe(1);
    expect(per[1][0].bosMass).toBe(0);
    expect(summarizeLayers(steps, layers, 4)[0].bosMass).toBe(0.5);
    expect(summarizeLayers(steps, layers, 4, { steps: [1] })[0].tokenMass[1]).toBe(1);
    expect(() => summarizeLayers(steps, layers, 4, { steps: [] })).toThrow();
  });
});

describe('head token mass', () => {
  it('scores each head in grid reading order by its mean attention on the chosen tokens', () => {
    const layers: LayerGeometry[] = [
      { heads: 2, resolution: 2 },
      { heads: 1, resolution: 1 },
    ];
    const l0 = new Float32Array(2 * 4 * 3);
    for (let p = 0; p < 4; p++) {
      l0.set([0.1, 0.6, 0.3], p * 3); // head 0
      l0.set([0.7, 0.1, 0.2], (4 + p) * 3); // head 1
    }
    const l1 = Float32Array.from([0.2, 0.2, 0.6]);
    const m = headTokenMass([[l0, l1]], layers, 3, [1, 2]);
    expect(m.length).toBe(3);
    expect(m[0]).toBeCloseTo(0.9, 6);
    expect(m[1]).toBeCloseTo(0.3, 6);
    expect(m[2]).toBeCloseTo(0.8, 6);
  });
});
