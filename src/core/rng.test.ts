import { describe, expect, it } from 'vitest';
import { Rng, gaussianNoise, portableLog, seedState, uniformSource } from './rng';

describe('xoshiro128** seeded by splitmix32', () => {
  // Expected words from an independent Python implementation of splitmix32 + xoshiro128**.
  it('produces the reference integer stream for seeds 0, 7 and 2^40 + 7', () => {
    const words = (seed: number) => {
      const r = new Rng(seed);
      return Array.from({ length: 4 }, () => r.nextUint32());
    };
    expect(words(0)).toEqual([1789933344, 44971166, 2521387044, 3848737593]);
    expect(words(7)).toEqual([210494603, 711084892, 3993689120, 4089369890]);
    expect(words(2 ** 40 + 7)).toEqual([1446238697, 815789016, 692256342, 1061534925]);
  });

  it('refuses seeds that are not safe integers', () => {
    expect(() => seedState(1.5)).toThrow(RangeError);
    expect(() => seedState(2 ** 60)).toThrow(RangeError);
  });
});

describe('portableLog', () => {
  it('agrees with Math.log to within a few ulps across the range the polar method uses', () => {
    for (let i = 1; i <= 20000; i++) {
      const x = (i / 20000) ** 3;
      const expected = Math.log(x);
      expect(Math.abs(portableLog(x) - expected)).toBeLessThanOrEqual(4e-16 * Math.max(1, Math.abs(expected)));
    }
    expect(portableLog(1)).toBe(0);
    expect(portableLog(5e-324)).toBeCloseTo(-744.4400719213812, 12);
  });

  it('rejects zero, negatives and infinity', () => {
    for (const x of [0, -1, Infinity, NaN]) expect(() => portableLog(x)).toThrow(RangeError);
  });
});

describe('Gaussian stream', () => {
  it('is the fixed vector for seed 7 (bit-exact: guards against any change of algorithm)', () => {
    const r = new Rng(7);
    expect(Array.from({ length: 6 }, () => r.nextGaussian())).toEqual([
      -0.8525998390036966, -1.604664278128921, 1.0359084785952293, -1.2941578338125628, -1.1065609146095021,
      -2.5647247746349593,
    ]);
  });

  it('has standard-normal moments over 1e6 samples', () => {
    const n = 1_000_000;
    const r = new Rng(12345);
    let s1 = 0;
    let s2 = 0;
    let s4 = 0;
    let beyond2 = 0;
    for (let i = 0; i < n; i++) {
      const z = r.nextGaussian();
      s1 += z;
      s2 += z * z;
      s4 += z * z * z * z;
      if (Math.abs(z) > 2) beyond2++;
    }
    const mean = s1 / n;
    const variance = s2 / n - mean * mean;
    // standard errors: mean 1e-3, variance 1.4e-3, fourth moment 1e-2 (sd of z^4 is sqrt(96))
    expect(Math.abs(mean)).toBeLessThan(5e-3);
    expect(Math.abs(variance - 1)).toBeLessThan(7e-3);
    expect(Math.abs(s4 / n - 3)).toBeLessThan(5e-2);
    expect(Math.abs(beyond2 / n - 0.0455003)).toBeLessThan(1.2e-3);
  });

  it('repeats for the same seed and differs between seeds', () => {
    expect(gaussianNoise(42, 3072)).toEqual(gaussianNoise(42, 3072));
    const a = gaussianNoise(42, 3072);
    const b = gaussianNoise(43, 3072);
    let same = 0;
    for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
    expect(same).toBe(0);
  });
});

describe('uniform source', () => {
  it('draws the same uniforms as the generator it wraps, all in [0, 1)', () => {
    const source = uniformSource(11);
    const rng = new Rng(11);
    for (let i = 0; i < 1000; i++) {
      const u = source();
      expect(u).toBe(rng.nextUniform());
      expect(u >= 0 && u < 1).toBe(true);
    }
  });
});
