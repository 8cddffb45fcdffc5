import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseManifest, organism, type OrganismManifest } from '../manifest';
import { computeMaps } from './maps';

const dir = join(import.meta.dirname, '../../../public/models/fixture-random');
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
