import { csvParse } from 'd3';
import { resultExports } from '../jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../manifest';
import type { CopyDetector, EmbeddingIndex } from '../metrics/copy-detection';
import type { RgbImage } from '../metrics/embedding';
import { thumbnailHwc, toUnitHwc } from '../metrics/pixels';
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

/**
 * A pixel-space embedder for the plumbing: an image's 8x8 thumbnail minus its mean, unit length,
 * searched over the train index's own thumbnails. It exercises the detector path of the table
 * (both rules, their calibration and columns) without the organism's trained detector.
 */
function thumbnailDetector(train: TrainIndex): CopyDetector {
  const dim = train.thumbSize * train.thumbSize * 3;
  const unit = (v: Float32Array) => {
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const c = v.map((x) => x - mean);
    const n = Math.sqrt(c.reduce((s, x) => s + x * x, 0)) || 1;
    return c.map((x) => x / n);
  };
  const vectors = new Float32Array(train.count * dim);
  for (let i = 0; i < train.count; i++)
    vectors.set(
      unit(toUnitHwc(train.thumbnails.subarray(i * dim, (i + 1) * dim), train.thumbSize, train.thumbSize)),
      i * dim,
    );
  const index: EmbeddingIndex = { vectors, count: train.count, dim, memorizedCount: train.memorizedCount };
  return {
    id: 'thumbnail',
    description: 'mean-centred 8x8 thumbnail',
    index,
    embed: async (images: readonly RgbImage[]) =>
      images.map((img) => unit(thumbnailHwc(toUnitHwc(img.data, train.size, train.size), train.size, train.thumbSize))),
  };
}

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
    expect(report.calibration).toMatchObject({ rule: 'ratio', tau: null, samples: 8 });
    expect(base.forgottenReplication.byRule.embedding).toBeNull();
    const md = variantTableMarkdown(report);
    expect(md.split('\n')).toHaveLength(2 + 6);
    expect(md).toContain('| test stage 1 | four heads |');
    expect(md).not.toContain('forgotten (ratio rule)');
    const csv = csvParse(resultExports(m, 'variant-table', report).csv!);
    expect(csv.map((r) => `${r.model}/${r.mask}`)).toEqual(report.rows.map((r) => `${r.model}/${r.maskLabel}`));
    expect(csv.map((r) => Number(r.forgotten_replication_n))).toEqual(
      report.rows.map((r) => r.forgottenReplication.total),
    );
    expect(csv[2]).toMatchObject({ method: 'test', stage: '1', cost_seconds: '12' });
  });

  it('with a copy detector: counts by it, keeps the ratio rule as a second column, and gives the forget set its own seeds', async () => {
    const m = model.manifest;
    const [a] = m.memorized.map((e) => e.id);
    const report = await runVariantTable(
      [entry(m), entry(asVariant(m, 'v1', [a], 1))],
      { ...train, detector: thumbnailDetector(train) },
      {
        seeds: [1],
        forgottenSeeds: [1, 2, 3],
        utilitySeeds: [5],
        steps: 2,
        guidance: 4,
        masks: [],
        calibrationQuantile: 0.01,
        neutralLimit: 8,
      },
    );
    expect(report.calibration).toMatchObject({ rule: 'embedding', detector: 'thumbnail', samples: 8 });
    expect(report.calibration.tau).toBeGreaterThan(-1);
    const [base, v1] = report.rows;
    expect(v1.forgottenReplication.total).toBe(3);
    expect(base.otherReplication.total).toBe(m.memorized.length - 1);
    expect(v1.byEntry[a]).toMatchObject({ total: 3 });
    for (const r of [base.forgottenReplication, base.otherReplication]) {
      expect(r.rule).toBe('embedding');
      expect(r.byRule.embedding).toMatchObject({ count: r.count, total: r.total });
      expect(r.byRule.ratio.total).toBe(r.total);
      expect(r.lo).toBeLessThanOrEqual(r.rate);
      expect(r.hi).toBeGreaterThanOrEqual(r.rate);
    }
    const md = variantTableMarkdown(report);
    expect(md.split('\n')[0]).toContain('forgotten: replication (copy detector)');
    expect(md.split('\n')[0]).toContain('forgotten (ratio rule)');
    expect(md.split('\n')[2]).toMatch(/\| base \| no mask \| [\d.]+% \[\d+, \d+\] \(\d+\/3\) \|/);
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
