import { csvParse } from 'd3';
import { resultExports } from '../jobs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainIndexFromFiles, type TrainIndex } from '../metrics/replication';
import { rateEstimate } from '../metrics/wilson';
import { type NodeModel, loadNodeModel, readModelFile } from '../../node/runner';
import { memoryCache } from './cache';
import type { Progress } from './context';
import {
  type ConditionResult,
  DEFAULT_BUDGET,
  type EvaluationOptions,
  defaultEvaluationOptions,
  judgeClaims,
  poolReplication,
  runEvaluation,
  summarizeReplication,
} from './evaluate';
import type { DetectionStudy } from './study';

const DIR = 'public/models/fixture-random';

function fastOptions(model: NodeModel): EvaluationOptions {
  return defaultEvaluationOptions(model.manifest, {
    seeds: [1, 2],
    utilitySeeds: [5],
    steps: 2,
    sparsities: [0.05, 0.2],
    randomDraws: 2,
    detection: { seeds: [11, 12], steps: 2, k: 1, guidance: 4 },
    nemo: { enabled: true, seeds: [21, 22], maxEvaluations: 6 },
    neutralLimit: 8,
    memorizedLimit: 4,
    maxRows: 48,
  });
}

describe('runEvaluation on the fixture model (plumbing: random weights copy nothing)', () => {
  let model: NodeModel;
  let train: TrainIndex;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'fp32' });
    const m = model.manifest;
    train = trainIndexFromFiles(
      m,
      await readModelFile(DIR, m.files.memorizedImages),
      await readModelFile(DIR, m.files.trainIndex),
    );
  });
  afterAll(() => model.release());

  it('writes every condition, with random draws folded into one entry, and serves the second run from the cache', async () => {
    const cache = memoryCache();
    const stages = new Set<string>();
    const options = fastOptions(model);
    const report = await runEvaluation(
      model.runner,
      model.manifest,
      train,
      options,
      { onProgress: (p: Progress) => stages.add(p.stage) },
      cache,
    );
    expect(report.schema).toBe('memlab-eval/2');
    expect(report.conditions.map((c) => c.id)).toEqual([
      'none',
      'nemo',
      'universal@0.05',
      'random@0.05',
      'universal@0.2',
      'random@0.2',
    ]);
    const none = report.conditions[0];
    expect(none.utility.imageChange).toBe(0);
    expect(none.replication.total).toBe(4 * 2);
    const uni = report.conditions.find((c) => c.id === 'universal@0.2')!;
    // the default universal mask prunes cross-attention heads (5 layers x 4 on the fixture); NeMo prunes value neurons
    expect(uni.mask).toBe('cross_attn_head_mask');
    expect(uni.pruned).toBe(Math.round(0.2 * 5 * 4));
    expect(uni.prunedFraction).toBeCloseTo(0.2);
    expect(report.conditions.find((c) => c.id === 'nemo')!.mask).toBe('cross_attn_value_mask');
    expect(report.universal).toMatchObject({ units: 'heads', mode: 'ablation', mask: 'cross_attn_head_mask' });
    expect(uni.units).toHaveLength(uni.pruned);
    expect(uni.utility.imageChange).toBeGreaterThan(0);
    const random = report.conditions.find((c) => c.id === 'random@0.2')!;
    expect(random.draws).toHaveLength(2);
    expect(random.pruned).toBe(uni.pruned);
    expect(random.mask).toBe(uni.mask);
    expect(report.detection.rocs.map((r) => r.key)).toContain('wen');
    expect(report.nemo!.prompts).toHaveLength(4);
    // the fixture ships no copy detector: the ratio rule counts; 8 training-scene captions (neutralLimit), 1 seed
    expect(report.calibration).toMatchObject({ rule: 'ratio', tau: null, samples: 8 });
    expect(none.replication.byRule.embedding).toBeNull();
    expect(report.calibration.alpha).toBeGreaterThan(0);
    expect(report.timings.sampling.msPerRow).toBeGreaterThan(0);
    expect([...stages]).toEqual(expect.arrayContaining(['detect', 'NeMo search', 'evaluate']));
    // JSON round trip is what the CLI writes
    expect(JSON.parse(JSON.stringify(report)).conditions).toHaveLength(6);
    // the panel's CSV: one row per condition, replication with its interval, the ratio rule beside it
    const csv = csvParse(resultExports(model.manifest, 'evaluate', report).csv!);
    expect(csv.map((r) => r.condition)).toEqual(report.conditions.map((c) => c.id));
    expect(csv.map((r) => [Number(r.replication_lo), Number(r.replication_hi), r.replication_rule])).toEqual(
      report.conditions.map((c) => [c.replication.lo, c.replication.hi, 'ratio']),
    );
    expect(csv.map((r) => Number(r.adherence))).toEqual(report.conditions.map((c) => c.utility.adherence));

    const keys = cache.size();
    expect(keys).toBeGreaterThan(3);
    const again = await runEvaluation(model.runner, model.manifest, train, options, {}, cache);
    expect(cache.size()).toBe(keys);
    expect(again.conditions.map((c) => c.replication.rate)).toEqual(report.conditions.map((c) => c.replication.rate));
  });

  it('prunes value neurons when asked (activation scoring), with random neurons as the control', async () => {
    const options = {
      ...fastOptions(model),
      universal: { units: 'neurons', mode: 'activation' } as const,
      nemo: { enabled: false, seeds: [], maxEvaluations: 0 },
    };
    const report = await runEvaluation(model.runner, model.manifest, train, options);
    const uni = report.conditions.find((c) => c.id === 'universal@0.2')!;
    expect(uni.mask).toBe('cross_attn_value_mask');
    expect(uni.pruned).toBe(Math.round(0.2 * 5 * 16));
    expect(report.conditions.find((c) => c.id === 'random@0.2')!.mask).toBe('cross_attn_value_mask');
    await expect(
      runEvaluation(model.runner, model.manifest, train, {
        ...options,
        universal: { units: 'heads', mode: 'activation' },
      }),
    ).rejects.toThrow(/heads are scored by ablation only/);
  });

  it('stops with an AbortError when cancelled mid-run', async () => {
    const controller = new AbortController();
    const run = runEvaluation(model.runner, model.manifest, train, fastOptions(model), {
      signal: controller.signal,
      onProgress: (p) => p.stage === 'detect' && p.done >= 2 && controller.abort(),
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
  });
});

function condition(
  kind: ConditionResult['kind'],
  sparsity: number | null,
  rate: number,
  adherence: number,
  total = 1000,
): ConditionResult {
  const count = Math.round(rate * total);
  return {
    id: `${kind}@${sparsity}`,
    kind,
    sparsity,
    mask: 'cross_attn_head_mask',
    pruned: 0,
    prunedFraction: 0,
    replication: {
      ...rateEstimate(count, total),
      rule: 'ratio',
      ownImageRate: rate,
      meanTiledL2: 0,
      byRule: { embedding: null, ratio: rateEstimate(count, total) },
    },
    utility: {
      imageChange: 0,
      adherence,
      adherenceByAttribute: { background: 0, colour: 0, shape: 0, size: 0, position: 0 },
    },
  };
}

const study = (auc: number) =>
  ({
    prompts: [],
    scores: [],
    rocs: [{ key: 'wen', label: '', paper: '', roc: { points: [], auc, tprAt1PctFpr: 0 } }],
  }) as DetectionStudy;

describe('judgeClaims', () => {
  it('picks the smallest sparsity that cuts replication 80% within the adherence budget, and compares random masks of that size', () => {
    const conditions = [
      condition('none', null, 0.9, 0.8),
      condition('universal', 0.01, 0.5, 0.8),
      condition('random', 0.01, 0.9, 0.8),
      condition('universal', 0.05, 0.1, 0.72),
      condition('random', 0.05, 0.8, 0.75),
      condition('universal', 0.1, 0.0, 0.5),
      condition('random', 0.1, 0.7, 0.7),
    ];
    const v = judgeClaims(study(0.97), conditions, DEFAULT_BUDGET);
    expect(v.detectionAuc.holds).toBe(true);
    expect(v.universal.sparsity).toBe(0.05);
    expect(v.universal.replicationReduction).toBeCloseTo(1 - 0.1 / 0.9);
    expect(v.universal.replicationReductionRange.lo).toBeLessThan(v.universal.replicationReduction);
    expect(v.universal.replicationReductionRange.hi).toBeGreaterThan(v.universal.replicationReduction);
    expect(v.universal.adherenceRatio).toBeCloseTo(0.9);
    expect(v.universal.holds).toBe(true);
    expect(v.universal.randomReduction).toBeCloseTo(1 - 0.8 / 0.9);
    expect(v.universal.randomHolds).toBe(true);
  });

  it('judges on the interval bounds: the same rates from too few generations do not hold', () => {
    const few = (total: number) => [
      condition('none', null, 0.9, 0.8, total),
      condition('universal', 0.05, 0.1, 0.78, total),
      condition('random', 0.05, 0.8, 0.8, total),
    ];
    const many = judgeClaims(study(1), few(1000), DEFAULT_BUDGET).universal;
    const thin = judgeClaims(study(1), few(20), DEFAULT_BUDGET).universal;
    expect(many.replicationReduction).toBeCloseTo(thin.replicationReduction);
    expect(many.holds).toBe(true);
    // 2 of 20 pruned copies against 18 of 20: the pruned rate may be 30%, the unpruned 70%
    expect(thin.replicationReductionRange.lo).toBeLessThan(DEFAULT_BUDGET.minReplicationReduction);
    expect(thin.holds).toBe(false);
    expect(thin.randomHolds).toBe(false);
  });

  it('fails when only a sparsity over the utility budget cuts replication enough, or when nothing was copied to begin with', () => {
    const over = [
      condition('none', null, 0.9, 0.8),
      condition('universal', 0.1, 0.1, 0.6),
      condition('random', 0.1, 0.2, 0.6),
    ];
    const v = judgeClaims(study(0.9), over, DEFAULT_BUDGET);
    expect(v.detectionAuc.holds).toBe(false);
    expect(v.universal.sparsity).toBe(0.1);
    expect(v.universal.holds).toBe(false);
    expect(v.universal.randomHolds).toBe(false);
    const nothing = [condition('none', null, 0, 0.8), condition('universal', 0.1, 0, 0.8)];
    expect(judgeClaims(study(1), nothing, DEFAULT_BUDGET).universal.holds).toBe(false);
  });
});

describe('summarizeReplication', () => {
  const match = (planted: number, similarity: number, nearest = planted) => ({
    nearest,
    similarity: nearest === planted ? similarity : similarity + 0.1,
    planted,
    plantedSimilarity: similarity,
  });
  const score = (nearest: number, ratio: number, planted = true, embedding?: ReturnType<typeof match>) => ({
    nearest,
    planted,
    ratio,
    tiledL2: ratio,
    ...(embedding ? { embedding } : {}),
  });
  const ratioOnly = { rule: 'ratio', alpha: 0.3, tau: null, quantile: 0.01, samples: 10, detector: null } as const;

  it('counts copies by the ratio rule (planted image nearest, ratio below alpha) and those of the caption’s own image', () => {
    const sum = summarizeReplication(
      [score(0, 0.1), score(1, 0.1), score(0, 0.5), score(700, 0.1, false)],
      [0, 0, 0, 0],
      ratioOnly,
    );
    expect(sum).toMatchObject({ rule: 'ratio', rate: 2 / 4, ownImageRate: 1 / 4, count: 2, total: 4 });
    expect(sum.meanTiledL2).toBeCloseTo(0.8 / 4, 10);
    expect(sum.byRule.embedding).toBeNull();
    expect(sum.byRule.ratio).toEqual(rateEstimate(2, 4));
    expect(sum.lo).toBeCloseTo(rateEstimate(2, 4).lo, 12);
  });

  it('counts by the detector when there is one, and keeps the ratio rule as the second column', () => {
    const both = { ...ratioOnly, rule: 'embedding', tau: 0.6, detector: 'copy-detector.onnx' } as const;
    const scores = [
      score(0, 0.9, true, match(0, 0.95)), // a recoloured copy: the ratio rule misses it, the detector does not
      score(0, 0.1, true, match(0, 0.97)), // an exact copy: both see it
      score(3, 0.2, true, match(2, 0.9)), // copies planted image 2, not the caption's own (0)
      score(0, 0.1, true, match(0, 0.5)), // too dissimilar for the detector
      score(0, 0.9, true, match(0, 0.8, 900)), // a scene is more similar than any planted image
    ];
    const sum = summarizeReplication(scores, [0, 0, 0, 0, 0], both);
    expect(sum.rule).toBe('embedding');
    expect(sum.count).toBe(3);
    expect(sum.ownImageRate).toBe(2 / 5);
    expect(sum.byRule.embedding!.count).toBe(3);
    expect(sum.byRule.ratio.count).toBe(3);
    expect(sum.byRule.ratio.rate).toBe(3 / 5);
  });

  it('pools random draws by adding their counts', () => {
    const a = summarizeReplication([score(0, 0.1), score(0, 0.9)], [0, 0], ratioOnly);
    const b = summarizeReplication([score(0, 0.1), score(0, 0.1)], [0, 0], ratioOnly);
    const pooled = poolReplication([a, b]);
    expect(pooled).toMatchObject({ count: 3, total: 4, rate: 0.75, ownImageRate: 0.75 });
    expect(pooled.hi).toBeCloseTo(rateEstimate(3, 4).hi, 12);
  });
});
