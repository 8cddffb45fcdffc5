import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { parseManifest, organism, type OrganismManifest } from '../core/manifest';
import { maskSetOfUnits } from '../core/masks';
import { tokenize } from '../core/tokenizer';
import { cleanMasks, defaultLayer, defaultToken, flagsOf, topK, unitsOf, variantsFor } from './experiment-state';

function fixture(): OrganismManifest {
  const parsed = parseManifest(
    JSON.parse(readFileSync(join(import.meta.dirname, '../../public/models/fixture-random/manifest.json'), 'utf8')),
  );
  if (!parsed.ok) throw new Error('fixture manifest');
  return organism(parsed.manifest);
}
const m = fixture();

test('top-k picks the highest finite scores, ties by index', () => {
  expect(topK([1, 5, NaN, 5, 3], 2)).toEqual([1, 3]);
  expect(topK([1, 2], 5)).toEqual([0, 1]);
  expect(topK([1, 2], 0)).toEqual([]);
});

test('masks are cleaned to the manifest: unknown names dropped, indices sorted, unique and in range', () => {
  const clean = cleanMasks(m, { cross_attn_head_mask: [4, 1, 4, -1, 20, 2.5], bogus: [1] });
  expect(clean.cross_attn_head_mask).toEqual([1, 4]);
  expect(Object.keys(clean).sort()).toEqual(m.unet.masks.map((s) => s.name).sort());
});

test('variants: the baseline alone, or baseline then pruned', () => {
  const none = cleanMasks(m, {});
  expect(variantsFor(m, none)).toHaveLength(1);
  const pruned = cleanMasks(m, { ff_neuron_mask: [3] });
  const [base, cut] = variantsFor(m, pruned);
  expect(base.ff_neuron_mask.every((v) => v === 1)).toBe(true);
  expect(cut.ff_neuron_mask[3]).toBe(0);
  expect(maskSetOfUnits(m, pruned).ff_neuron_mask.filter((v) => v === 0)).toHaveLength(1);
});

test('flags and unit lists convert both ways', () => {
  expect(unitsOf(flagsOf([0, 3], 5))).toEqual([0, 3]);
});

test('heatmaps start on the trigger word, else the first word', () => {
  const trig = m.memorized[0];
  expect(defaultToken(m, tokenize(trig.caption, m.text).ids)).toBe(trig.caption.split(' ').indexOf(trig.trigger) + 1);
  expect(defaultToken(m, tokenize('a red circle', m.text).ids)).toBe(1);
  expect(defaultToken(m, tokenize('', m.text).ids)).toBe(0);
  expect(m.unet.layers[defaultLayer(m)].resolution).toBe(Math.min(...m.unet.layers.map((l) => l.resolution)));
});
