import { describe, expect, it } from 'vitest';
import { advanceClock, durationInWords, jobTiming, startClock } from './progress';

describe('a running job, timed', () => {
  it('tells the elapsed time from the start and the stage time left from the stage rate', () => {
    let clock = startClock(1_000);
    expect(jobTiming(clock, 4_000)).toEqual({ elapsedMs: 3_000, stageRemainingMs: null });
    // detection: 10 calls, the first report after 1 s, then 1 call per 500 ms
    clock = advanceClock(clock, { stage: 'detect', done: 1, total: 10 }, 2_000);
    expect(jobTiming(clock, 2_000).stageRemainingMs).toBeNull(); // one report: no rate yet
    clock = advanceClock(clock, { stage: 'detect', done: 5, total: 10 }, 4_000);
    expect(jobTiming(clock, 4_000)).toEqual({ elapsedMs: 3_000, stageRemainingMs: 2_500 });
    // between reports the estimate counts down with the clock, never below zero
    expect(jobTiming(clock, 5_000).stageRemainingMs).toBe(1_500);
    expect(jobTiming(clock, 9_000).stageRemainingMs).toBe(0);
    // a new stage measures its own rate: ablation calls are slower
    clock = advanceClock(clock, { stage: 'ablate heads', done: 1, total: 100 }, 7_000);
    expect(jobTiming(clock, 7_000).stageRemainingMs).toBeNull();
    clock = advanceClock(clock, { stage: 'ablate heads', done: 3, total: 100 }, 11_000);
    expect(jobTiming(clock, 11_000)).toEqual({ elapsedMs: 10_000, stageRemainingMs: 194_000 });
  });

  it('says durations in words a reader takes in at a glance', () => {
    expect(durationInWords(0)).toBe('0 s');
    expect(durationInWords(8_400)).toBe('8 s');
    expect(durationInWords(185_000)).toBe('3 min 05 s');
    expect(durationInWords(3_720_000)).toBe('1 h 02 min');
  });
});
