/**
 * The evaluation: does a mask stop copying without spoiling ordinary prompts?
 *
 *   replication  memorized captions x seeds, full DDIM sampling; a generation replicates when it is
 *                a copy by the model verification's rule (metrics/replication.ts isCopy): Carlini's
 *                normalised distance below alpha with a planted image nearest, alpha calibrated on
 *                the unpruned model's generations for training-scene captions (at most
 *                `calibrationQuantile` of them pass)
 *   utility      evaluation-half neutral prompts x utility seeds: RMSE against the unpruned
 *                model's image (same prompt, same seed) and the scene-adherence rate
 *   conditions   none; NeMo (each memorized caption with its own value-neuron mask, neutral
 *                prompts with the union of those masks: the cost of deploying them all); universal
 *                at each sparsity (Pareto); random units of the same kind and count, averaged over
 *                draws (control)
 *
 * Every condition's generations go through one batched sampleRows run. The planted labels
 * (manifest.memorized) are read here, to score masks, and never by universal.ts, which builds them.
 */
import { type Manifest, organism } from '../manifest';
import {
  type AdherenceScore,
  type Attribute,
  adherenceRates,
  adherenceScore,
  analyzeScene,
} from '../metrics/adherence';
import { type CopyScore, type TrainIndex, calibrateAlpha, copyScore, isCopy } from '../metrics/replication';
import type { MaskSet } from '../masks';
import { allOnes } from '../masks';
import type { PromptSet } from '../prompts/types';
import { type SampleRow, encodePrompts, sampleRows } from './batch';
import type { ExperimentCache } from './cache';
import type { RunContext } from './context';
import type { ScienceRunner } from './sampler';
import type { DetectionOptions } from './detect';
import type { NemoLocalization } from './localize';
import { cachedDetectionStudy, cachedNemo, cachedNeutralReference, cachedUniversalScores } from './shared-computations';
import type { DetectionStudy } from './study';
import {
  type UniversalMethod,
  type UniversalScores,
  DEFAULT_UNIVERSAL,
  checkUniversalMethod,
  defaultSparsities,
  neutralSplit,
  randomUnits,
  universalSpec,
  universalUnits,
} from './universal';
import { VALUE_NEURON_KIND, maskSetPruning, maskSpecOfKind, unitCount } from './units';

export interface EvaluationOptions {
  /** replication seeds per memorized caption */
  seeds: number[];
  /** seeds per evaluation neutral prompt (utility and calibration) */
  utilitySeeds: number[];
  steps: number;
  guidance: number;
  /** shares of all units of the universal kind (heads or value neurons) pruned by the universal mask */
  sparsities: number[];
  /** random masks per sparsity */
  randomDraws: number;
  /** accepted false-positive rate of the copy rule (alpha) on generations for training-scene captions */
  calibrationQuantile: number;
  /** first-steps detection (study ROC, universal flagging) */
  detection: DetectionOptions;
  /** the universal mask's units and scoring */
  universal: UniversalMethod;
  /** at most this many flagged captions score the universal mask (universal.ts; default 48) */
  maxFlagged?: number;
  /** NeMo per memorized caption; off: no NeMo condition */
  nemo: { enabled: boolean; seeds: number[]; maxEvaluations: number };
  /** use only the first n neutral prompts (both halves come from these) */
  neutralLimit?: number;
  /** score only the first n memorized entries (quick runs; the universal pool is unaffected) */
  memorizedLimit?: number;
  /** the detection study on these prompt sets (imported lists) instead of the manifest's prompts */
  promptSets?: PromptSet[];
  maxRows?: number;
}

export type ConditionKind = 'none' | 'nemo' | 'universal' | 'random';

export interface ReplicationSummary {
  /** share of memorized generations that replicate some planted image */
  rate: number;
  /** share that replicate the caption's own planted image */
  ownImageRate: number;
  count: number;
  total: number;
  /** mean tiled L2 to the nearest planted image */
  meanTiledL2: number;
}

export interface UtilitySummary {
  /** mean RMSE ([-1, 1] units) against the unpruned model's image for the same prompt and seed */
  imageChange: number;
  /** mean share of the five scene attributes shown as asked */
  adherence: number;
  adherenceByAttribute: Record<Attribute, number>;
}

export interface ConditionResult {
  id: string;
  kind: ConditionKind;
  sparsity: number | null;
  /** the mask input pruned: value neurons for NeMo, the universal kind for universal and random */
  mask: string;
  /** units pruned (NeMo: mean over captions; its neutral utility uses the union) */
  pruned: number;
  prunedFraction: number;
  replication: ReplicationSummary;
  utility: UtilitySummary;
  /** random: one summary per draw (the condition's numbers are their means) */
  draws?: { replicationRate: number; adherence: number; imageChange: number }[];
  /** universal: the pruned flat unit indices of `mask` */
  units?: number[];
}

export interface UtilityBudget {
  /** pruned adherence must be at least (1 - this) x the unpruned adherence */
  maxRelativeAdherenceDrop: number;
  /** the replication rate must fall by at least this share of the unpruned rate */
  minReplicationReduction: number;
  /** random masks of the same size must reduce replication by less than this share of what the universal mask achieves */
  maxRandomShare: number;
  /** detection AUC of Wen's score at least this */
  minDetectionAuc: number;
}

/**
 * The budget the claim tests hold the model to. Adherence may fall by 15% of its unpruned value:
 * UniForget's medium setting costs about 1% FID and its strong one about 22% (DESIGN.md), and
 * with 32 neutral prompts x 2 seeds the adherence estimate itself moves by about +-5 points
 * between seed sets, so a tighter budget would sit inside measurement noise.
 */
export const DEFAULT_BUDGET: UtilityBudget = {
  maxRelativeAdherenceDrop: 0.15,
  minReplicationReduction: 0.8,
  maxRandomShare: 0.5,
  minDetectionAuc: 0.95,
};

export interface ClaimVerdicts {
  detectionAuc: { value: number; holds: boolean };
  /** the smallest universal sparsity that meets the replication and utility budget, if any */
  universal: {
    sparsity: number | null;
    replicationReduction: number;
    adherenceRatio: number;
    randomReduction: number;
    holds: boolean;
    randomHolds: boolean;
  };
}

export interface EvaluationReport {
  schema: 'memlab-eval/1';
  model: { id: string; version: string; trainingSteps: number };
  options: EvaluationOptions;
  detection: DetectionStudy;
  universal: Omit<UniversalScores, 'poolWen' | 'referenceWen'>;
  nemo: {
    target: number;
    prompts: { prompt: string; found: boolean; pruned: number; theta: number; signal: number; evaluations: number }[];
  } | null;
  calibration: Calibration;
  conditions: ConditionResult[];
  budget: UtilityBudget;
  claims: ClaimVerdicts;
  timings: {
    totalMs: number;
    stagesMs: Record<string, number>;
    sampling: { unetCalls: number; unetRows: number; msPerCall: number; msPerRow: number };
  };
}

/** Defaults for a model: the manifest's steps and guidance, 4 seeds, the Pareto sparsities of the universal kind. */
export function defaultEvaluationOptions(manifest: Manifest, over: Partial<EvaluationOptions> = {}): EvaluationOptions {
  const seeds = over.seeds ?? [1, 2, 3, 4];
  const universal = over.universal ?? DEFAULT_UNIVERSAL;
  return {
    seeds,
    utilitySeeds: [101, 102],
    steps: manifest.defaults.steps,
    guidance: manifest.defaults.guidance,
    sparsities: defaultSparsities(universal.units),
    randomDraws: 3,
    calibrationQuantile: 0.01,
    detection: { seeds: [11, 12, 13, 14], steps: manifest.defaults.steps, k: 3, guidance: manifest.defaults.guidance },
    universal,
    nemo: { enabled: true, seeds: [21, 22, 23, 24], maxEvaluations: 60 },
    ...over,
  };
}

/** Means of a list of numbers (0 for none). */
function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, v) => s + v, 0) / values.length : 0;
}

/** RMSE between two CHW images. */
export function imageRmse(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError('images differ in size');
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

/** The training-scene captions the copy rule is calibrated on (as the model verification does); the first `limit`. */
export function calibrationPromptsOf(manifest: Manifest, limit = manifest.trainPromptsSample.length): string[] {
  return manifest.trainPromptsSample.slice(0, limit);
}

/**
 * Utility of generations for neutral prompts: adherence to the scene each prompt asks for, and
 * RMSE against a reference image for the same prompt and seed (the unpruned or base model's).
 * images[i] is a generation for prompts[i]; the arrays are aligned.
 */
export function summarizeUtility(
  manifest: Manifest,
  prompts: readonly string[],
  images: readonly Float32Array[],
  reference: readonly Float32Array[],
): UtilitySummary {
  const adherence: AdherenceScore[] = [];
  const change: number[] = [];
  images.forEach((img, i) => {
    const intended = manifest.neutralObjects[manifest.neutralPrompts.indexOf(prompts[i])];
    adherence.push(adherenceScore(analyzeScene(img, organism(manifest).palette, manifest.image.width), intended));
    change.push(imageRmse(img, reference[i]));
  });
  const { overall, ...byAttribute } = adherenceRates(adherence);
  return { imageChange: mean(change), adherence: overall, adherenceByAttribute: byAttribute };
}

/** How the copy rule was calibrated: alpha over `samples` generations of training-scene captions. */
export interface Calibration {
  measure: 'neighbourRatio';
  quantile: number;
  alpha: number;
  samples: number;
}

/** Replication summary of generations scored by the copy rule (ownIndex: each caption's planted image). */
export function summarizeReplication(
  scores: readonly CopyScore[],
  ownIndex: readonly number[],
  alpha: number,
): ReplicationSummary {
  let count = 0;
  let own = 0;
  scores.forEach((s, i) => {
    if (isCopy(s, alpha)) {
      count++;
      if (s.nearest === ownIndex[i]) own++;
    }
  });
  const total = scores.length;
  return {
    rate: total ? count / total : 0,
    ownImageRate: total ? own / total : 0,
    count,
    total,
    meanTiledL2: mean(scores.map((s) => s.tiledL2)),
  };
}

/** Judges the claims from a report's numbers (pure: the claim tests and the CLI use it). */
export function judgeClaims(
  detection: DetectionStudy,
  conditions: readonly ConditionResult[],
  budget: UtilityBudget,
): ClaimVerdicts {
  const auc = detection.rocs.find((r) => r.key === 'wen')?.roc.auc ?? Number.NaN;
  const none = conditions.find((c) => c.kind === 'none');
  if (!none) throw new Error('the report has no unpruned condition');
  const reduction = (c: ConditionResult) =>
    none.replication.rate > 0 ? 1 - c.replication.rate / none.replication.rate : 0;
  const ratio = (c: ConditionResult) => (none.utility.adherence > 0 ? c.utility.adherence / none.utility.adherence : 0);
  const universal = conditions.filter((c) => c.kind === 'universal').sort((a, b) => a.sparsity! - b.sparsity!);
  const chosen =
    universal.find(
      (c) => reduction(c) >= budget.minReplicationReduction && ratio(c) >= 1 - budget.maxRelativeAdherenceDrop,
    ) ??
    universal.find((c) => reduction(c) >= budget.minReplicationReduction) ??
    universal.at(-1);
  const random = chosen ? conditions.find((c) => c.kind === 'random' && c.sparsity === chosen.sparsity) : undefined;
  const replicationReduction = chosen ? reduction(chosen) : 0;
  const adherenceRatio = chosen ? ratio(chosen) : 0;
  const randomReduction = random ? reduction(random) : Number.NaN;
  const holds =
    !!chosen &&
    none.replication.rate > 0 &&
    replicationReduction >= budget.minReplicationReduction &&
    adherenceRatio >= 1 - budget.maxRelativeAdherenceDrop;
  return {
    detectionAuc: { value: auc, holds: auc >= budget.minDetectionAuc },
    universal: {
      sparsity: chosen?.sparsity ?? null,
      replicationReduction,
      adherenceRatio,
      randomReduction,
      holds,
      randomHolds:
        holds && Number.isFinite(randomReduction) && randomReduction < budget.maxRandomShare * replicationReduction,
    },
  };
}

interface PlannedCondition {
  id: string;
  kind: ConditionKind;
  sparsity: number | null;
  draw?: number;
  /** mask set index for each memorized caption, and for neutral prompts */
  memorizedMask: number[];
  neutralMask: number;
  pruned: number;
  units?: number[];
}

/** Runs the whole study (detection, localization, universal masks, evaluation) and returns the report. */
export async function runEvaluation(
  runner: ScienceRunner,
  manifest: Manifest,
  train: TrainIndex,
  options: EvaluationOptions,
  ctx: RunContext = {},
  cache?: ExperimentCache,
): Promise<EvaluationReport> {
  const began = performance.now();
  const stagesMs: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      stagesMs[name] = performance.now() - t;
    }
  };
  const model = { id: manifest.id, version: manifest.version };
  checkUniversalMethod(options.universal);
  const valueSpec = maskSpecOfKind(manifest, VALUE_NEURON_KIND);
  const spec = universalSpec(manifest, options.universal.units);
  const units = unitCount(spec);
  const split = neutralSplit(manifest, options.neutralLimit);
  const memorized = manifest.memorized.slice(0, options.memorizedLimit ?? manifest.memorized.length);

  const detection = await timed('detection', () =>
    cachedDetectionStudy(
      runner,
      manifest,
      { ...options.detection, neutralLimit: options.neutralLimit, promptSets: options.promptSets },
      ctx,
      cache,
    ),
  );
  const universal = await timed('universal scores', () =>
    cachedUniversalScores(
      runner,
      manifest,
      {
        ...options.universal,
        detection: options.detection,
        reference: split.reference,
        maxFlagged: options.maxFlagged,
      },
      ctx,
      cache,
    ),
  );

  let nemo: NemoLocalization[] | null = null;
  let nemoTarget = Number.NaN;
  if (options.nemo.enabled) {
    const { seeds, maxEvaluations } = options.nemo;
    nemo = await timed('NeMo', async () => {
      nemoTarget = (await cachedNeutralReference(runner, manifest, split.reference, seeds, ctx, cache)).target;
      const out: NemoLocalization[] = [];
      for (const m of memorized) {
        const inputs = { prompt: m.caption, referencePrompts: split.reference, seeds, search: { maxEvaluations } };
        out.push(await cachedNemo(runner, manifest, inputs, ctx, cache));
      }
      return out;
    });
  }

  // Mask sets and conditions.
  const maskSets: MaskSet[] = [allOnes(manifest)];
  const addMask = (flat: number[], of = spec) => maskSets.push(maskSetPruning(manifest, of, flat)) - 1;
  const plans: PlannedCondition[] = [
    { id: 'none', kind: 'none', sparsity: null, memorizedMask: memorized.map(() => 0), neutralMask: 0, pruned: 0 },
  ];
  if (nemo) {
    const per = nemo.map((n) => addMask(n.search.refined, valueSpec));
    const union = [...new Set(nemo.flatMap((n) => n.search.refined))].sort((a, b) => a - b);
    plans.push({
      id: 'nemo',
      kind: 'nemo',
      sparsity: null,
      memorizedMask: per,
      neutralMask: addMask(union, valueSpec),
      pruned: mean(nemo.map((n) => n.search.refined.length)),
    });
  }
  for (const s of options.sparsities) {
    const chosen = universalUnits(universal.scores, s);
    const u = addMask(chosen);
    plans.push({
      id: `universal@${s}`,
      kind: 'universal',
      sparsity: s,
      memorizedMask: memorized.map(() => u),
      neutralMask: u,
      pruned: chosen.length,
      units: chosen,
    });
    for (let d = 0; d < options.randomDraws; d++) {
      const r = addMask(randomUnits(units, chosen.length, 7919 * (d + 1) + Math.round(s * 1e6)));
      plans.push({
        id: `random@${s}#${d}`,
        kind: 'random',
        sparsity: s,
        draw: d,
        memorizedMask: memorized.map(() => r),
        neutralMask: r,
        pruned: chosen.length,
      });
    }
  }

  // One batched generation run for every condition, plus the unpruned model on training-scene
  // captions for the copy rule's calibration (as the model verification does).
  const calibrationPrompts = calibrationPromptsOf(manifest, options.neutralLimit);
  const calibrationAt = memorized.length + split.evaluation.length;
  const prompts = [...memorized.map((m) => m.caption), ...split.evaluation, ...calibrationPrompts];
  const rows: SampleRow[] = [];
  const rowOf = new Map<string, number>();
  const addRow = (plan: number, prompt: number, seed: number, maskSet: number) => {
    rowOf.set(`${plan}/${prompt}/${seed}`, rows.length);
    rows.push({ prompt, seed, maskSet });
  };
  plans.forEach((plan, c) => {
    memorized.forEach((_, p) => options.seeds.forEach((seed) => addRow(c, p, seed, plan.memorizedMask[p])));
    split.evaluation.forEach((_, q) =>
      options.utilitySeeds.forEach((seed) => addRow(c, memorized.length + q, seed, plan.neutralMask)),
    );
  });
  calibrationPrompts.forEach((_, q) => options.utilitySeeds.forEach((seed) => addRow(0, calibrationAt + q, seed, 0)));
  const sampled = await timed('generation', async () => {
    const emb = await encodePrompts(runner, manifest, prompts, ctx);
    return sampleRows(
      runner,
      manifest,
      emb,
      maskSets,
      rows,
      {
        steps: options.steps,
        guidance: options.guidance,
        keepImages: true,
        maxRows: options.maxRows,
        stage: 'evaluate',
      },
      ctx,
    );
  });
  const images = sampled.images!;
  const image = (c: number, p: number, seed: number) => images[rowOf.get(`${c}/${p}/${seed}`)!];

  // The copy rule, calibrated on the unpruned model's training-scene generations.
  const ordinary: CopyScore[] = [];
  calibrationPrompts.forEach((_, q) =>
    options.utilitySeeds.forEach((seed) => ordinary.push(copyScore(image(0, calibrationAt + q, seed), train))),
  );
  const alpha = calibrateAlpha(ordinary, options.calibrationQuantile);

  const measured = plans.map((_plan, c) => {
    const scores: CopyScore[] = [];
    const own: number[] = [];
    memorized.forEach((m, p) =>
      options.seeds.forEach((seed) => {
        scores.push(copyScore(image(c, p, seed), train));
        own.push(m.imageIndex);
      }),
    );
    const neutral = split.evaluation.flatMap((prompt, q) => options.utilitySeeds.map((seed) => ({ prompt, q, seed })));
    const utility = summarizeUtility(
      manifest,
      neutral.map((n) => n.prompt),
      neutral.map((n) => image(c, memorized.length + n.q, n.seed)),
      neutral.map((n) => image(0, memorized.length + n.q, n.seed)),
    );
    return { replication: summarizeReplication(scores, own, alpha), utility };
  });

  const conditions: ConditionResult[] = [];
  plans.forEach((plan, c) => {
    if (plan.kind === 'random' && plan.draw! > 0) return; // folded into draw 0's entry below
    const of = plan.kind === 'nemo' ? valueSpec : spec;
    const base = {
      id: plan.id,
      kind: plan.kind,
      sparsity: plan.sparsity,
      mask: of.name,
      pruned: plan.pruned,
      prunedFraction: plan.pruned / unitCount(of),
      ...measured[c],
    };
    if (plan.kind !== 'random') {
      conditions.push(plan.units ? { ...base, units: plan.units } : base);
      return;
    }
    const draws = plans
      .map((p, i) => ({ p, i }))
      .filter(({ p }) => p.kind === 'random' && p.sparsity === plan.sparsity)
      .map(({ i }) => measured[i]);
    const avg = (f: (m: (typeof measured)[number]) => number) => mean(draws.map(f));
    const byAttribute = Object.fromEntries(
      Object.keys(base.utility.adherenceByAttribute).map((a) => [
        a,
        avg((m) => m.utility.adherenceByAttribute[a as Attribute]),
      ]),
    ) as Record<Attribute, number>;
    conditions.push({
      ...base,
      id: `random@${plan.sparsity}`,
      replication: {
        rate: avg((m) => m.replication.rate),
        ownImageRate: avg((m) => m.replication.ownImageRate),
        count: draws.reduce((s, m) => s + m.replication.count, 0),
        total: draws.reduce((s, m) => s + m.replication.total, 0),
        meanTiledL2: avg((m) => m.replication.meanTiledL2),
      },
      utility: {
        imageChange: avg((m) => m.utility.imageChange),
        adherence: avg((m) => m.utility.adherence),
        adherenceByAttribute: byAttribute,
      },
      draws: draws.map((m) => ({
        replicationRate: m.replication.rate,
        adherence: m.utility.adherence,
        imageChange: m.utility.imageChange,
      })),
    });
  });

  const { poolWen: _p, referenceWen: _r, ...universalSummary } = universal;
  return {
    schema: 'memlab-eval/1',
    model: { ...model, trainingSteps: organism(manifest).trainingSteps },
    options,
    detection,
    universal: universalSummary,
    nemo: nemo
      ? {
          target: nemoTarget,
          prompts: nemo.map((n) => ({
            prompt: n.prompt,
            found: n.search.found,
            pruned: n.search.refined.length,
            theta: n.search.theta,
            signal: n.search.signal,
            evaluations: n.search.evaluations,
          })),
        }
      : null,
    calibration: { measure: 'neighbourRatio', quantile: options.calibrationQuantile, alpha, samples: ordinary.length },
    conditions,
    budget: DEFAULT_BUDGET,
    claims: judgeClaims(detection, conditions, DEFAULT_BUDGET),
    timings: {
      totalMs: performance.now() - began,
      stagesMs,
      sampling: {
        unetCalls: sampled.unetCalls,
        unetRows: sampled.unetRows,
        msPerCall: sampled.unetCalls ? sampled.unetMs / sampled.unetCalls : 0,
        msPerRow: sampled.unetRows ? sampled.unetMs / sampled.unetRows : 0,
      },
    },
  };
}
