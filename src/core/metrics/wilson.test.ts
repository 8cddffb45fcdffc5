import { describe, expect, it } from 'vitest';
import { Rng } from '../rng';
import { formatRate, intervalWidth, rateEstimate, trialsForWidth, wilsonInterval } from './wilson';

describe('Wilson 95% interval', () => {
  it('matches published values (Newcombe 1998, table I; Brown, Cai & DasGupta 2001)', () => {
    // Newcombe's examples: 81/263 -> 0.2553-0.3662, 15/148 -> 0.0624-0.1605, 0/20 -> 0-0.1611, 1/29 -> 0.0061-0.1718
    const cases: [number, number, number, number][] = [
      [81, 263, 0.2553, 0.3662],
      [15, 148, 0.0624, 0.1605],
      [0, 20, 0, 0.1611],
      [1, 29, 0.0061, 0.1718],
    ];
    for (const [k, n, lo, hi] of cases) {
      const i = wilsonInterval(k, n);
      expect(i.lo).toBeCloseTo(lo, 4);
      expect(i.hi).toBeCloseTo(hi, 4);
    }
  });

  it('is symmetric in successes and failures and stays inside [0, 1]', () => {
    for (const n of [1, 7, 40, 171]) {
      for (let k = 0; k <= n; k++) {
        const a = wilsonInterval(k, n);
        const b = wilsonInterval(n - k, n);
        expect(a.lo).toBeCloseTo(1 - b.hi, 12);
        expect(a.lo).toBeGreaterThanOrEqual(0);
        expect(a.hi).toBeLessThanOrEqual(1);
        expect(a.lo).toBeLessThanOrEqual(k / n);
        expect(a.hi).toBeGreaterThanOrEqual(k / n);
      }
    }
    expect(wilsonInterval(0, 40)).toEqual({ lo: 0, hi: expect.closeTo(0.0876, 4) });
    expect(wilsonInterval(40, 40).hi).toBe(1);
  });

  it('covers the true rate about 95% of the time (simulated binomial draws)', () => {
    const rng = new Rng(5);
    for (const [p, n] of [
      [0.5, 80],
      [0.1, 171],
      [0.9, 40],
    ] as const) {
      let covered = 0;
      const draws = 4000;
      for (let d = 0; d < draws; d++) {
        let k = 0;
        for (let i = 0; i < n; i++) if (rng.nextUniform() < p) k++;
        const { lo, hi } = wilsonInterval(k, n);
        if (lo <= p && p <= hi) covered++;
      }
      expect(covered / draws).toBeGreaterThan(0.92);
      expect(covered / draws).toBeLessThan(0.99);
    }
  });

  it('narrows with more trials: 167 generations keep any rate within 15 points', () => {
    const n = trialsForWidth(0.15);
    expect(n).toBe(167);
    for (const m of [n, n + 1, n + 40]) {
      let widest = 0;
      for (let k = 0; k <= m; k++) widest = Math.max(widest, intervalWidth(wilsonInterval(k, m)));
      expect(widest).toBeLessThanOrEqual(0.15);
    }
    expect(intervalWidth(wilsonInterval(83, 166))).toBeGreaterThan(0.15);
    expect(intervalWidth(wilsonInterval(20, 80))).toBeLessThan(intervalWidth(wilsonInterval(5, 20)));
  });

  it('refuses counts that are not a rate, and gives the whole range for no trials', () => {
    expect(() => wilsonInterval(3, 2)).toThrow(/successes <= trials/);
    expect(() => wilsonInterval(-1, 2)).toThrow(RangeError);
    expect(() => wilsonInterval(0.5, 2)).toThrow(RangeError);
    expect(wilsonInterval(0, 0)).toEqual({ lo: 0, hi: 1 });
  });

  it('carries counts, rate and bounds together and prints them in percent', () => {
    const r = rateEstimate(77, 80);
    expect(r).toMatchObject({ rate: 0.9625, count: 77, total: 80 });
    expect(formatRate(r)).toBe('96.3% [89.5, 98.7]');
  });
});
