import { expect, test } from 'vitest';
import type { WorkerEvent } from '../workers/protocol';
import { batchSteps } from './step-batching';

const step = (n: number): WorkerEvent => ({
  type: 'step',
  id: 1,
  step: n,
  of: 3,
  timestep: 1000 - n,
  previews: [],
  noiseGap: [0],
});
const result = { type: 'bench', id: 9, result: {} } as unknown as WorkerEvent;

test('steps wait for one flush a frame; any other event applies them first, so the order holds', () => {
  const applied: string[] = [];
  const frames: (() => void)[] = [];
  const deliver = batchSteps(
    (e) => applied.push(e.type === 'step' ? `step ${e.step}` : e.type),
    (flush) => frames.push(flush),
  );
  deliver(step(1));
  deliver(step(2));
  expect(applied).toEqual([]);
  expect(frames).toHaveLength(1); // one frame asked for, however many steps come
  frames[0]();
  expect(applied).toEqual(['step 1', 'step 2']);
  deliver(step(3));
  deliver(result);
  expect(applied).toEqual(['step 1', 'step 2', 'step 3', 'bench']);
  frames[1](); // the frame asked for step 3 finds nothing left to do
  expect(applied).toHaveLength(4);
});
