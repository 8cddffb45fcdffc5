import { expect, test } from 'vitest';
import { type Maps, keepUnchangedMaps } from './analysis-state';

const maps = (layerMap: number[], daam: number[]): Maps => ({
  generation: 3,
  focus: { variant: 1, token: 2, layer: 0, head: 'mean', step: 'all' },
  daam: Float32Array.from(daam),
  layerMap: Float32Array.from(layerMap),
  layerResolution: 2,
  headScores: new Float32Array([0.5, 0.25]),
  series: { entropy: [1], bos: [0.5], token: [0.25] },
  tokenWeights: new Float32Array([0.1, 0.9]),
  steps: 25,
});

test('a maps answer keeps the previous arrays whose values did not change, so their overlays are not redrawn', () => {
  const before = maps([1, 2, 3, 4], [0.1, 0.2]);
  // hovering a head: a new layer map, the same DAAM map, head scores and token weights
  const after = maps([4, 3, 2, 1], [0.1, 0.2]);
  const kept = keepUnchangedMaps(before, after);
  expect(kept.daam).toBe(before.daam);
  expect(kept.headScores).toBe(before.headScores);
  expect(kept.tokenWeights).toBe(before.tokenWeights);
  expect(kept.layerMap).toBe(after.layerMap);
  expect(Array.from(kept.layerMap)).toEqual([4, 3, 2, 1]);
  expect(kept.series).toBe(after.series);
  expect(keepUnchangedMaps(null, after)).toBe(after);
  // a value that changed anywhere (or a new length) takes the new array
  expect(keepUnchangedMaps(before, maps([1, 2, 3, 4], [0.1, 0.3])).daam[1]).toBeCloseTo(0.3);
  expect(keepUnchangedMaps(before, maps([1, 2, 3], [0.1, 0.2])).layerMap).toHaveLength(3);
});
