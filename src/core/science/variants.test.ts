import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../manifest';
import type { TrainIndex } from '../metrics/replication';
import { type NodeModel, loadNodeModel, loadTrainIndex } from '../../node/runner';
import {
  maskSetOfUnits,
  orderVariants,
  prunedShare,
  rateOn,
  runVariantTable,
  variantTableMarkdown,
  type VariantModel,
} from './variants';

const DIR = 'public/models/fixture-random';

/** The fixture dressed as a variant of itself: plumbing only (the same weights forget nothing). */
function asVariant(m: Manifest, id: string, forgotten: string[], stage?: number): Manifest {
  return {
    ...m,
    id,
    variant: { of: m.id, method: 'test', forgotten, costSeconds: 12, steps: 3, ...(stage ? { stage } : {}) },
  };
}

describe('runVariantTable on the fixture (plumbing)', () => {
  let model: NodeModel;
  let train: TrainIndex;
  const loads: string[] = [];
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'fp32' });
    train = await loadTrainIndex(DIR, model.manifest);
  });
  afterAll(() => model.release());

  const entry = (manifest: Manifest): VariantModel => ({
    manifest,
    load: async () => (loads.push(manifest.id), { runner: model.runner }),
  });

  it('scores every model x mask, base first, forgotten against other entries, change against the base', async () => {
    const m = model.manifest;
    const [a, b] = m.memorized.map((e) => e.id);
    const heads = { cross_attn_head_mask: [0, 1, 2, 3] };
    const report = await runVariantTable(
      [entry(asVariant(m, 'v1', [a], 1)), entry(m), entry(asVariant(m, 'v2', [a, b], 2))],
      train,
      {
        seeds: [1],
        utilitySeeds: [5],
        steps: 2,
        guidance: 4,
        masks: [{ id: 'heads', label: 'four heads', units: heads }],
        calibrationQuantile: 0.01,
        neutralLimit: 8,
      },
    );
    expect(loads).toEqual([m.id, 'v1', 'v2']); // lazily, base first, one at a time
    expect(report.rows.map((r) => `${r.model}/${r.mask}`)).toEqual([
      `${m.id}/none`,
      `${m.id}/heads`,
      'v1/none',
      'v1/heads',
      'v2/none',
      'v2/heads',
    ]);
    expect(report.forgetSet).toEqual([a, b]);
    const base = report.rows[0];
    expect(base.forgotten).toEqual([a, b]);
    expect(base.forgottenReplication.total + base.otherReplication.total).toBe(m.memorized.length);
    expect(base.utility.imageChange).toBe(0);
    expect(base.cost).toBeNull();
    const v1 = report.rows[2];
    expect(v1).toMatchObject({ method: 'test', stage: 1, forgotten: [a], cost: { seconds: 12, steps: 3 } });
    expect(v1.forgottenReplication.total).toBe(1);
    // same weights, same seeds: the "variant" reproduces the base exactly
    expect(v1.utility.imageChange).toBe(0);
    expect(rateOn(v1, [a, b])).toBe(rateOn(base, [a, b]));
    expect(report.rows[1].utility.imageChange).toBeGreaterThan(0); // the mask changes the images
    expect(report.rows[1].prunedFraction).toBeCloseTo(4 / m.unet.masks.reduce((s, k) => s + k.layers * k.units, 0));
    expect(report.calibration).toMatchObject({ measure: 'neighbourRatio', samples: 8 });
    const md = variantTableMarkdown(report);
    expect(md.split('\n')).toHaveLength(2 + 6);
    expect(md).toContain('| test stage 1 | four heads |');
  });

  it('refuses a family without exactly one base, a stranger, or units the model lacks', () => {
    const m = model.manifest;
    expect(() => orderVariants([entry(asVariant(m, 'v1', []))])).toThrow(/exactly one base/);
    expect(() =>
      orderVariants([
        entry(m),
        entry({ ...asVariant(m, 'x', []), variant: { ...asVariant(m, 'x', []).variant!, of: 'other' } }),
      ]),
    ).toThrow(/not variants/);
    expect(() => maskSetOfUnits(m, { nope: [0] })).toThrow(/not an input/);
    expect(() => maskSetOfUnits(m, { cross_attn_head_mask: [999] })).toThrow(RangeError);
    expect(prunedShare(m, {})).toBe(0);
  });
});
