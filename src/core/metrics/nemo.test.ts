import { describe, expect, it } from 'vitest';
import { nemoSearch, neutralStatistics, selectOutliers, valueActivations, zScores } from './nemo';
import { Rng } from '../rng';

describe('value-neuron statistics', () => {
  it('averages |v| over the included tokens, per layer and neuron', () => {
    // layers 2, tokens 3, width 2; token 2 is padding with a huge value that must not count
    const v = Float32Array.of(
      1,
      -2,
      /**/ -3,
      4,
      /**/ 100,
      100, // layer 0
      0.5,
      0,
      /**/ 0.5,
      -1,
      /**/ -100,
      100, // layer 1
    );
    const shape = { layers: 2, tokens: 3, width: 2 };
    expect([...valueActivations(v, shape, [1, 1, 0])]).toEqual([2, 3, 0.5, 0.5]);
    expect(valueActivations(v, shape)[0]).toBeCloseTo(104 / 3, 5);
    expect(() => valueActivations(v, shape, [0, 0, 0])).toThrow(/no tokens/);
    expect(() => valueActivations(new Float32Array(3), shape)).toThrow(RangeError);
  });

  it('computes neutral mean, sample std and z-scores (dead neurons stay finite)', () => {
    const stats = neutralStatistics([Float32Array.of(1, 5), Float32Array.of(3, 5), Float32Array.of(5, 5)]);
    expect([...stats.mean]).toEqual([3, 5]);
    expect([...stats.std]).toEqual([2, 0]);
    const z = zScores([9, 5.001], stats, 1e-3);
    expect(z[0]).toBe(3);
    expect(z[1]).toBeCloseTo(1, 6);
    expect(selectOutliers([0.5, 3, 2, 3.01], 2)).toEqual([1, 3]);
    expect(neutralStatistics([Float32Array.of(2)]).std[0]).toBe(0);
  });
});

describe('NeMo search and refinement', () => {
  // 4 layers x 8 neurons. Memorization needs neurons 3 (layer 0) AND 17 (layer 2) active:
  // (outliers: 3, 5 in layer 0; 8 in layer 1; 17 in layer 2; 30 in layer 3)
  // signal 0.2 + 0.3 per active one; the target is 0.4, so both must be pruned.
  const z = new Float64Array(32).fill(0.3);
  z[3] = 4;
  z[5] = 3.5;
  z[8] = 2.9;
  z[30] = 2.7;
  z[17] = 2.6;
  const signal = (pruned: readonly number[]) => 0.2 + (pruned.includes(3) ? 0 : 0.3) + (pruned.includes(17) ? 0 : 0.3);

  it('lowers the threshold until memorization is mitigated, then drops unneeded layers and neurons', async () => {
    const calls: number[][] = [];
    const result = await nemoSearch({ z, width: 8, target: 0.4, measure: (p) => (calls.push([...p]), signal(p)) });
    expect(result.found).toBe(true);
    expect(result.theta).toBe(2.5);
    expect(result.initial).toEqual([3, 5, 8, 17, 30]);
    expect(result.refined).toEqual([3, 17]);
    expect(result.signal).toBeCloseTo(0.2, 12);
    // 1 unpruned + 4 thresholds (3.75, 3.25, 2.75, 2.5; unchanged sets are not re-measured)
    // + 4 layers (0 and 2 needed; 1 = {8} and 3 = {30} not) + 3 neurons (17 needed, 5 not, 3 needed)
    expect(result.evaluations).toBe(12);
    expect(calls).toHaveLength(12);
    expect(result.trace.filter((t) => t.stage === 'layer').map((t) => [t.at, t.accepted])).toEqual([
      [0, false],
      [1, true],
      [2, false],
      [3, true],
    ]);
    expect(result.trace.filter((t) => t.stage === 'neuron').map((t) => [t.at, t.accepted])).toEqual([
      [17, false],
      [5, true],
      [3, false],
    ]);
  });

  it('prunes nothing when the prompt is not memorized to begin with', async () => {
    const r = await nemoSearch({ z, width: 8, target: 0.9, measure: signal });
    expect(r).toMatchObject({ found: true, refined: [], initial: [], evaluations: 1 });
  });

  it('reports failure when no threshold mitigates it, and respects the evaluation budget', async () => {
    const never = await nemoSearch({ z, width: 8, target: 0.1, measure: signal, thetaMin: 1 });
    expect(never.found).toBe(false);
    expect(never.refined).toEqual([3, 5, 8, 17, 30]);
    const capped = await nemoSearch({ z, width: 8, target: 0.4, measure: signal, maxEvaluations: 3 });
    expect(capped.evaluations).toBeLessThanOrEqual(3);
    expect(capped.found).toBe(false);
  });

  it('finds a planted neuron from activations end to end', async () => {
    const r = new Rng(8);
    const neutral = Array.from({ length: 64 }, () =>
      Float32Array.from({ length: 80 }, () => 1 + 0.1 * r.nextGaussian()),
    );
    const prompt = Float32Array.from({ length: 80 }, () => 1 + 0.1 * r.nextGaussian());
    prompt[42] = 2.5; // 15 sigma
    const zs = zScores(prompt, neutralStatistics(neutral));
    const result = await nemoSearch({
      z: zs,
      width: 16,
      target: 0.43,
      measure: async (p) => (p.includes(42) ? 0.2 : 0.8),
    });
    expect(result.refined).toEqual([42]);
  });

  it('refuses inconsistent shapes', async () => {
    await expect(nemoSearch({ z, width: 7, target: 0.4, measure: signal })).rejects.toThrow(RangeError);
  });
});
