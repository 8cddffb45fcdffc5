import { expect, test } from 'vitest';
import type { Generation } from '../../state/store';
import { experimentJson } from './export-json';
import { fileStem } from './files';

const image = { width: 1, height: 1, data: new Uint8ClampedArray(4) };
const result: Generation = {
  id: 3,
  params: { prompt: 'a painting of zephyr', seed: 7, steps: 10, guidance: 4, captureAttention: true },
  masks: { cross_attn_head_mask: [5] },
  image,
  raw: new Float32Array(3),
  noiseGaps: [1],
  baseline: { image, raw: new Float32Array(3), noiseGaps: [2] },
  tokenIds: [],
  unknownWords: [],
  tokenWords: [],
  truncated: false,
  totalMs: 1234.5,
  meanStepMs: 1,
  hasAttention: true,
};

test('the JSON export names the run, its masks and both variants’ scores', () => {
  const replication = { index: 1, memorized: true, resolution: 'full' as const, l2: 0.1, cosine: 0.9, tiledL2: 0.2 };
  const json = JSON.parse(
    experimentJson(
      result,
      [
        {
          memorization: 2.5,
          replication,
          nearest: null,
          nearestLabel: 'memorized verbatim image',
          diffFromBaseline: 0,
        },
        { memorization: 1.25, replication: null, nearest: null, nearestLabel: '', diffFromBaseline: 0.3 },
      ],
      null,
      'http://127.0.0.1/?v=1',
    ),
  );
  expect(json.run).toMatchObject({
    prompt: 'a painting of zephyr',
    seed: 7,
    masks: { cross_attn_head_mask: [5] },
    totalMs: 1235,
  });
  expect(json.variants.map((v: { variant: string }) => v.variant)).toEqual(['baseline', 'pruned']);
  expect(json.variants[0].nearestTrainingImage).toMatchObject({ index: 1, memorized: true, cosine: 0.9 });
  expect(json.variants[1].nearestTrainingImage).toBeNull();
  expect(json.variants[1].memorizationScore).toBe(1.25);
  expect(json.link).toBe('http://127.0.0.1/?v=1');
});

test('export file names are safe and say what they hold', () => {
  expect(fileStem('A painting of <zephyr>!', 7)).toBe('memlab-a-painting-of-zephyr-seed7');
  expect(fileStem('', 1)).toBe('memlab-unconditional-seed1');
});
