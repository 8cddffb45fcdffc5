import { expect, test } from 'vitest';
import { analysisTransferables } from './analysis-protocol';

test('analysis messages transfer each buffer once', () => {
  const shared = new Float32Array(4);
  const list = analysisTransferables({
    type: 'generation',
    id: 1,
    generation: 1,
    variants: [
      { raw: shared, noiseGaps: [] },
      { raw: shared, noiseGaps: [] },
    ],
  });
  expect(list).toHaveLength(1);
});
