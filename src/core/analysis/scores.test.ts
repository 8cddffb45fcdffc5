import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseManifest, organism, type OrganismManifest } from '../manifest';
import { trainIndexFromFiles } from '../metrics/replication';
import { nearestImage, scoreVariants } from './scores';

const dir = join(import.meta.dirname, '../../../public/models/fixture-random');
function fixture(): OrganismManifest {
  const parsed = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  if (!parsed.ok) throw new Error('fixture manifest');
  return organism(parsed.manifest);
}
const m = fixture();

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
