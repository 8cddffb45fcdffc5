import { describe, expect, it } from 'vitest';
import {
  measureAblations,
  meanScoreDrop,
  rankUnits,
  relativeChange,
  topKUnits,
  universalAttribution,
  utilityAwareScores,
} from './attribution';

describe('ablation attribution', () => {
  it('averages the score drop per unit over prompts', () => {
    const drop = meanScoreDrop({ units: [4, 9], baseline: [1, 3], ablated: [0.5, 2.5, 1, 3] });
    expect([...drop]).toEqual([0.5, 0]);
    expect(() => meanScoreDrop({ units: [4], baseline: [1, 2], ablated: [1] })).toThrow(RangeError);
  });

  it('nets out units every prompt relies on, keeps memorization-specific ones, ranks harmful ones last', () => {
    // unit 0: lowers every score by 1; unit 1: lowers memorized by 2 only; unit 2: raises memorized by 0.5
    const units = [0, 1, 2];
    const memorized = { units, baseline: [3, 3], ablated: [2, 2, 1, 1, 3.5, 3.5] };
    const neutral = { units, baseline: [1, 1, 1], ablated: [0, 0, 0, 1, 1, 1, 1, 1, 1] };
    const u = universalAttribution(memorized, neutral);
    expect([...u]).toEqual([0, 2, -0.5]);
    expect(rankUnits(u)).toEqual([1, 0, 2]);
    expect(() => universalAttribution(memorized, { ...neutral, units: [0, 2, 1] })).toThrow(RangeError);
  });

  it('picks the top k into a sorted pruned-unit set, never units that do not help', () => {
    const units = [10, 11, 12, 13, 14];
    const scores = [0.5, 2, 0, 2, -1];
    expect(topKUnits(units, scores, 2)).toEqual([11, 13]); // tie at 2: both, listed ascending
    expect(topKUnits(units, scores, 10)).toEqual([10, 11, 13]); // 0 and negative excluded
    expect(topKUnits(units, scores, 10, -Infinity)).toEqual([10, 11, 12, 13, 14]);
    expect(topKUnits(units, scores, 0)).toEqual([]);
    expect(rankUnits([1, 1, 1])).toEqual([0, 1, 2]);
    expect(() => topKUnits(units, scores, -1)).toThrow(RangeError);
  });

  it('measures baseline then one ablation per unit and prompt, and recovers a planted unit', async () => {
    // Memorized prompts (0, 1) depend on unit 7; every prompt depends a little on unit 3.
    const calls: [number | null, number][] = [];
    const make = (memorized: boolean) => (unit: number | null, prompt: number) => {
      calls.push([unit, prompt]);
      const base = memorized ? 2 : 1;
      return base - (unit === 3 ? 0.4 : 0) - (memorized && unit === 7 ? 1.5 : 0) + prompt * 0.01;
    };
    const units = [1, 3, 7, 9];
    const mem = await measureAblations(units, 2, make(true));
    expect(calls.slice(0, 3)).toEqual([
      [null, 0],
      [null, 1],
      [1, 0],
    ]);
    expect(mem.ablated).toHaveLength(8);
    const neu = await measureAblations(units, 3, make(false));
    expect(calls).toHaveLength(2 + 8 + 3 + 12);
    const u = universalAttribution(mem, neu);
    [0, 0, 1.5, 0].forEach((want, i) => expect(u[i]).toBeCloseTo(want, 9));
    expect(topKUnits(units, u, 1)).toEqual([7]);
  });
});

describe('utility-aware universal score', () => {
  it('relativeChange is the moved share of a direction: 0 for the same direction, 1 for none left, exact on a simple case', () => {
    expect(relativeChange([1, 2, 2], [1, 2, 2])).toBe(0);
    expect(relativeChange([0, 0, 0], [3, 0, 4])).toBe(1);
    expect(relativeChange([3, 4, 0], [3, 0, 0])).toBeCloseTo(4 / 3);
    expect(relativeChange([1], [0])).toBe(0);
    expect(() => relativeChange([1, 2], [1])).toThrow(RangeError);
  });

  it('ranks a unit that cuts memorization and leaves neutral directions alone above one that cuts more but turns them', () => {
    // baseline memorization score 2 on both prompts; unit A drops it to 1 (50%), unit B to 0.5 (75%)
    const memorized = { units: [0, 1], baseline: [2, 2], ablated: [1, 1, 0.5, 0.5] };
    const scores = utilityAwareScores(memorized, [0.05, 0.6]);
    expect(scores[0]).toBeCloseTo(0.5 - 0.05);
    expect(scores[1]).toBeCloseTo(0.75 - 0.6);
    expect(rankUnits(scores)).toEqual([0, 1]);
    expect(() => utilityAwareScores(memorized, [0.1])).toThrow(RangeError);
  });
});
