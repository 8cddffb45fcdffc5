import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseManifest, type Manifest, organism, type OrganismManifest } from '../core/manifest';
import { trainIndexFromFiles } from '../core/metrics/replication';
import { computeMaps, nearestImage, scoreVariants } from './analysis';
import { analysisTransferables } from './analysis-protocol';

const dir = join(import.meta.dirname, '../../public/models/fixture-random');
function fixture(): OrganismManifest {
  const parsed = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  if (!parsed.ok) throw new Error('fixture manifest');
  return organism(parsed.manifest);
}
const m = fixture();
const T = m.text.maxTokens;

/** Attention [step][layer][variant] where every head of layer l puts weight w on `token` and the rest on <bos>. */
function attention(
  steps: number,
  variants: number,
  token: number,
  weight: (layer: number, head: number) => number,
): Float32Array[][][] {
  return Array.from({ length: steps }, () =>
    m.unet.layers.map((g, l) =>
      Array.from({ length: variants }, () => {
        const px = g.resolution * g.resolution;
        const a = new Float32Array(g.heads * px * T);
        for (let h = 0; h < g.heads; h++)
          for (let p = 0; p < px; p++) {
            const w = weight(l, h);
            a[(h * px + p) * T + token] = w;
            a[(h * px + p) * T] = 1 - w;
          }
        return a;
      }),
    ),
  );
}

test('maps: head scores name the heads that attend to the token, from the baseline variant', () => {
  const att = attention(3, 2, 4, (l, h) => (l === 1 && h === 2 ? 0.8 : 0.1));
  // the pruned variant looks elsewhere; scores must still come from variant 0
  for (const step of att) for (const layer of step) layer[1].fill(0);
  const maps = computeMaps(m, att, { variant: 1, token: 4, layer: 1, head: 2, step: 'all' });
  const best = maps.headScores.indexOf(Math.max(...maps.headScores));
  expect(best).toBe(1 * m.unet.layers[0].heads + 2);
  expect(maps.headScores[best]).toBeCloseTo(0.8, 5);
  expect(maps.layerResolution).toBe(m.unet.layers[1].resolution);
  expect(maps.daam).toHaveLength(m.image.width * m.image.height);
  expect(maps.steps).toBe(3);
});

test('maps: per-layer map, series and token weights for one step and head', () => {
  const att = attention(2, 1, 3, (l) => (l === 0 ? 0.5 : 0.25));
  const maps = computeMaps(m, att, { variant: 0, token: 3, layer: 0, head: 1, step: 1 });
  expect(Array.from(maps.layerMap).every((v) => Math.abs(v - 0.5) < 1e-6)).toBe(true);
  expect(maps.series.token[0]).toBeCloseTo(0.5, 5);
  expect(maps.series.bos[1]).toBeCloseTo(0.75, 5);
  expect(maps.tokenWeights[3]).toBeGreaterThan(0);
  expect(() => computeMaps(m, att, { variant: 0, token: T, layer: 0, head: 0, step: 0 })).toThrow(/token/);
});

test('scores: a generation equal to a memorized image is found, shown and compared with the baseline', () => {
  const memorized = new Uint8Array(readFileSync(join(dir, m.files.memorizedImages.path)));
  const index = new Uint8Array(readFileSync(join(dir, m.files.trainIndex.path)));
  const train = trainIndexFromFiles(m, memorized, index);
  const size = m.image.width;
  const k = m.memorized[1].imageIndex;
  // the memorized image as CHW floats in [-1, 1]
  const copy = new Float32Array(3 * size * size);
  for (let p = 0; p < size * size; p++)
    for (let c = 0; c < 3; c++) copy[c * size * size + p] = memorized[(k * size * size + p) * 3 + c] / 127.5 - 1;
  const noise = copy.map((_v, i) => (i % 7) / 7 - 0.5);
  const [base, pruned] = scoreVariants(m, train, [
    { raw: copy, noiseGaps: [4, 4, 4, 4, 4, 0] },
    { raw: noise, noiseGaps: [1, 1] },
  ]);
  expect(base.replication?.index).toBe(k);
  expect(base.replication?.memorized).toBe(true);
  expect(base.replication?.l2).toBeLessThan(0.01);
  expect(base.nearestLabel).toContain(m.memorized[1].caption);
  expect(base.memorization).toBe(4);
  expect(base.diffFromBaseline).toBe(0);
  expect(pruned.memorization).toBe(1);
  expect(pruned.diffFromBaseline).toBeGreaterThan(0.05);
  expect(nearestImage(train, base.replication!).data.slice(0, 3)).toEqual(
    new Uint8ClampedArray(memorized.slice(k * size * size * 3, k * size * size * 3 + 3)),
  );
  expect(scoreVariants(m, null, [{ raw: copy, noiseGaps: [2] }])[0].replication).toBeNull();
});

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
