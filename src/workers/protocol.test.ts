import { expect, test } from 'vitest';
import { transferables, type WorkerEvent } from './protocol';

test('result buffers are transferred once each', () => {
  const shared = new Float32Array(8);
  const event: WorkerEvent = {
    type: 'result',
    id: 1,
    images: [{ width: 1, height: 1, data: new Uint8ClampedArray(4) }],
    // the same buffer twice: listing it twice would make postMessage throw
    raw: [shared, shared],
    noiseGaps: [[1]],
    sharedAttention: true,
    tokens: { ids: [], words: [], unknownWords: [], truncated: false },
    timings: { textMs: 0, stepMs: [], totalMs: 0 },
  };
  const list = transferables(event);
  expect(list).toHaveLength(2);
  expect(new Set(list).size).toBe(2);
  // and the list is one structuredClone accepts
  expect(() => structuredClone(event, { transfer: list })).not.toThrow();
});

test('progress events carry nothing to transfer', () => {
  expect(
    transferables({ type: 'progress', id: 1, phase: 'download', label: 'x', loaded: 1, total: 2, fromCache: false }),
  ).toEqual([]);
});
