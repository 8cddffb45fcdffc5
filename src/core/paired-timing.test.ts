import { describe, expect, it } from 'vitest';
import { type StepTimes, compareStepTimes, quantile, timeInterleaved } from './paired-timing';

describe('interleaved step timing', () => {
  it('alternates which call goes first and records one time per call', async () => {
    const order: string[] = [];
    const times: StepTimes = { bare: [], pipeline: [] };
    await timeInterleaved(
      4,
      async () => order.push('bare'),
      async () => order.push('step'),
      times,
    );
    expect(order).toEqual(['bare', 'step', 'step', 'bare', 'bare', 'step', 'step', 'bare']);
    expect(times.bare).toHaveLength(4);
    expect(times.pipeline).toHaveLength(4);
    expect([...times.bare, ...times.pipeline].every((t) => t >= 0)).toBe(true);
  });

  it('runs but does not record warm-up rounds', async () => {
    let calls = 0;
    const times: StepTimes = { bare: [], pipeline: [] };
    const call = async () => calls++;
    await timeInterleaved(3, call, call, times, false);
    expect(calls).toBe(6);
    expect(times).toEqual({ bare: [], pipeline: [] });
  });

  it('times what each call awaits', async () => {
    const times: StepTimes = { bare: [], pipeline: [] };
    const sleep = (ms: number) => () => new Promise((r) => setTimeout(r, ms));
    await timeInterleaved(2, sleep(1), sleep(30), times);
    expect(Math.min(...times.pipeline)).toBeGreaterThan(Math.max(...times.bare));
  });
});

describe('step time summary', () => {
  it('interpolates quantiles between order statistics', () => {
    expect(quantile([3, 1, 2], 0.5)).toBe(2);
    expect(quantile([4, 1, 3, 2], 0.5)).toBe(2.5);
    expect(quantile([0, 10], 0.9)).toBe(9);
    expect(quantile([5], 0.9)).toBe(5);
    expect(() => quantile([], 0.5)).toThrow(RangeError);
  });

  it('reports medians, ratios of medians and of totals, and 90th percentiles', () => {
    const r = compareStepTimes({ bare: [10, 10, 10, 40], pipeline: [11, 11, 12, 12] });
    expect(r).toEqual({
      pairs: 4,
      bareMsPerStep: 10,
      pipelineMsPerStep: 11.5,
      ratio: 1.15,
      ratioOfTotals: +(46 / 70).toFixed(3),
      bareP90: 31,
      pipelineP90: 12,
    });
  });
});
