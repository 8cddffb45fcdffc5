import { expect, test } from 'vitest';
import { jobTiming } from '../core/jobs';
import { loadedLabStore } from './test-support';

test('a running job keeps what it is doing and its timing: elapsed since sent, the stage ETA from its rate', async () => {
  let now = 10_000;
  const { store, sent } = await loadedLabStore({ now: () => now });
  const s = () => store.getState();
  s().runScience('attribution');
  const job = sent.at(-1)!;
  const progress = (done: number, detail: string) =>
    s().applyEvent({
      type: 'science-progress',
      id: job.id,
      job: 'attribution',
      stage: 'ablate heads',
      done,
      total: 42,
      detail,
    });
  now = 12_000;
  progress(2, 'cross-attention head 0 of layer down.16 masked, on “a painting of zephyr” and 3 more prompts');
  now = 14_000;
  progress(4, 'cross-attention head 1 of layer down.16 masked, on “a painting of zephyr” and 3 more prompts');
  const run = s().science.running!;
  expect(run.detail).toBe(
    'cross-attention head 1 of layer down.16 masked, on “a painting of zephyr” and 3 more prompts',
  );
  // 2 calls in 2 s, 38 to go: 38 s at the measured rate; 4 s since the job was sent
  expect(jobTiming(run.clock, 14_000)).toEqual({ elapsedMs: 4_000, stageRemainingMs: 38_000 });
});
