/**
 * The evaluation: does a mask stop copying without spoiling ordinary prompts?
 *
 *   replication  memorized captions x seeds, full DDIM sampling; a generation replicates when it is
 *                a copy by the model verification's rule (metrics/replication.ts isCopy): the copy
 *                detector's similarity to a planted image above tau when the model ships one, and
 *                Carlini's normalised distance below alpha as the second column (and the rule for
 *                models without a detector), both calibrated on the unpruned model's generations
 *                for training-scene captions (at most `calibrationQuantile` of them pass). Every
 *                rate carries its 95% Wilson interval, and the claims are judged on the bounds
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
import {
  type CopyReference,
  type CopyRule,
  type CopyScore,
  type CopyThresholds,
  calibrateCopyRules,
  copiedImage,
  copyScores,
} from '../metrics/replication';
import { type Interval, type RateEstimate, rateEstimate } from '../metrics/wilson';
import type { PromptSet } from '../prompts/types';
import { conditionRows, planConditions, sampleConditionRows, stageTimer } from './conditions';
import type { ExperimentCache } from './cache';
import type { RunContext } from './context';
import type { ScienceRunner } from './sampler';
import type { DetectionOptions } from './detect';
import type { DetectionStudy } from './study';
import {
  type UniversalMethod,
  type UniversalScores,
  DEFAULT_UNIVERSAL,
  defaultSparsities,
  neutralSplit,
} from './universal';
import { unitCount } from './units';

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

/**
 * Replication of a set of generations: the share that copy some planted image (count of total,
 * with its 95% Wilson interval lo..hi) by the rule that counts, and every rule's own count.
 */
export interface ReplicationSummary extends RateEstimate {
  rule: CopyRule;
  /** share that replicate the caption's own planted image */
  ownImageRate: number;
  /** mean tiled L2 to the nearest planted image */
  meanTiledL2: number;
  /** each rule's rate: the ratio rule is the second column beside the embedding (null: no detector) */
  byRule: { embedding: RateEstimate | null; ratio: RateEstimate };
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
  /**
   * The smallest universal sparsity that meets the replication and utility budget, if any. The
   * reductions are point values with their range over the two rates' 95% intervals (lo: the pruned
   * rate at its upper bound against the unpruned at its lower; hi: the reverse); a claim holds only
   * on the bound that is least favourable to it.
   */
  universal: {
    sparsity: number | null;
    replicationReduction: number;
    replicationReductionRange: Interval;
    adherenceRatio: number;
    randomReduction: number;
    randomReductionRange: Interval;
    holds: boolean;
    randomHolds: boolean;
  };
}

export interface EvaluationReport {
  schema: 'memlab-eval/2';
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

/** How the copy rules were calibrated: over `samples` generations of training-scene captions. */
export type Calibration = CopyThresholds;

/** Replication summary of generations scored by the copy rules (ownIndex: each caption's planted image). */
export function summarizeReplication(
  scores: readonly CopyScore[],
  ownIndex: readonly number[],
  thresholds: CopyThresholds,
): ReplicationSummary {
  const count = (rule: CopyRule) => scores.filter((s) => copiedImage(s, thresholds, rule) >= 0).length;
  const own = scores.filter((s, i) => copiedImage(s, thresholds) === ownIndex[i]).length;
  const total = scores.length;
  const byRule = {
    embedding: thresholds.tau === null ? null : rateEstimate(count('embedding'), total),
    ratio: rateEstimate(count('ratio'), total),
  };
  return {
    ...(byRule[thresholds.rule] as RateEstimate),
    rule: thresholds.rule,
    ownImageRate: total ? own / total : 0,
    meanTiledL2: mean(scores.map((s) => s.tiledL2)),
    byRule,
  };
}

/** Pools replication summaries of equal standing (random masks' draws): counts add up, intervals are recomputed. */
export function poolReplication(parts: readonly ReplicationSummary[]): ReplicationSummary {
  if (parts.length === 0) throw new RangeError('nothing to pool');
  const sum = (f: (r: ReplicationSummary) => number) => parts.reduce((s, r) => s + f(r), 0);
  const pool = (get: (r: ReplicationSummary) => RateEstimate | null): RateEstimate | null => {
    const all = parts.map(get);
    if (all.some((r) => r === null)) return null;
    return rateEstimate(
      (all as RateEstimate[]).reduce((s, r) => s + r.count, 0),
      (all as RateEstimate[]).reduce((s, r) => s + r.total, 0),
    );
  };
  const byRule = { embedding: pool((r) => r.byRule.embedding), ratio: pool((r) => r.byRule.ratio)! };
  const total = sum((r) => r.total);
  return {
    ...(byRule[parts[0].rule] as RateEstimate),
    rule: parts[0].rule,
    ownImageRate: total ? sum((r) => r.ownImageRate * r.total) / total : 0,
    meanTiledL2: total ? sum((r) => r.meanTiledL2 * r.total) / total : 0,
    byRule,
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
  const base = none.replication;
  const reduction = (c: ConditionResult) => (base.rate > 0 ? 1 - c.replication.rate / base.rate : 0);
  const range = (c: ConditionResult): Interval => ({
    lo: base.lo > 0 ? 1 - c.replication.hi / base.lo : 0,
    hi: base.hi > 0 ? 1 - c.replication.lo / base.hi : 0,
  });
  const ratio = (c: ConditionResult) => (none.utility.adherence > 0 ? c.utility.adherence / none.utility.adherence : 0);
  const universal = conditions.filter((c) => c.kind === 'universal').sort((a, b) => a.sparsity! - b.sparsity!);
  const enough = (c: ConditionResult) => range(c).lo >= budget.minReplicationReduction;
  const chosen =
    universal.find((c) => enough(c) && ratio(c) >= 1 - budget.maxRelativeAdherenceDrop) ??
    universal.find(enough) ??
    universal.at(-1);
  const random = chosen ? conditions.find((c) => c.kind === 'random' && c.sparsity === chosen.sparsity) : undefined;
  const none0 = { lo: 0, hi: 0 };
  const replicationReductionRange = chosen ? range(chosen) : none0;
  const adherenceRatio = chosen ? ratio(chosen) : 0;
  const randomReductionRange = random ? range(random) : { lo: Number.NaN, hi: Number.NaN };
  const holds =
    !!chosen &&
    base.lo > 0 &&
    replicationReductionRange.lo >= budget.minReplicationReduction &&
    adherenceRatio >= 1 - budget.maxRelativeAdherenceDrop;
  return {
    detectionAuc: { value: auc, holds: auc >= budget.minDetectionAuc },
    universal: {
      sparsity: chosen?.sparsity ?? null,
      replicationReduction: chosen ? reduction(chosen) : 0,
      replicationReductionRange,
      adherenceRatio,
      randomReduction: random ? reduction(random) : Number.NaN,
      randomReductionRange,
      holds,
      // random masks at their most effective still do less than the share allowed of the universal mask at its least
      randomHolds:
        holds &&
        Number.isFinite(randomReductionRange.hi) &&
        randomReductionRange.hi < budget.maxRandomShare * replicationReductionRange.lo,
    },
  };
}

/** Runs the whole study (detection, localization, universal masks, evaluation) and returns the report. */
export async function runEvaluation(
  runner: ScienceRunner,
  manifest: Manifest,
  train: CopyReference,
  options: EvaluationOptions,
  ctx: RunContext = {},
  cache?: ExperimentCache,
): Promise<EvaluationReport> {
  const began = performance.now();
  const { stagesMs, timed } = stageTimer();
  const model = { id: manifest.id, version: manifest.version };
  const split = neutralSplit(manifest, options.neutralLimit);
  const memorized = manifest.memorized.slice(0, options.memorizedLimit ?? manifest.memorized.length);
  const { detection, universal, nemo, nemoTarget, spec, valueSpec, maskSets, plans } = await planConditions(
    runner,
    manifest,
    options,
    { memorized: memorized.map((m) => m.caption), reference: split.reference },
    timed,
    ctx,
    cache,
  );

  // One batched generation run for every condition, plus the unpruned model on training-scene
  // captions for the copy rule's calibration (as the model verification does).
  const calibrationPrompts = calibrationPromptsOf(manifest, options.neutralLimit);
  const calibrationAt = memorized.length + split.evaluation.length;
  const prompts = [...memorized.map((m) => m.caption), ...split.evaluation, ...calibrationPrompts];
  const { rows, add, row } = conditionRows(plans, memorized.length, split.evaluation.length, options);
  calibrationPrompts.forEach((_, q) => options.utilitySeeds.forEach((seed) => add(0, calibrationAt + q, seed, 0)));
  const sampled = await timed('generation', () =>
    sampleConditionRows(runner, manifest, prompts, maskSets, rows, options, ctx),
  );
  const images = sampled.images!;
  const image = (c: number, p: number, seed: number) => images[row(c, p, seed)];

  // The copy rules, calibrated on the unpruned model's training-scene generations.
  const ordinaryImages: Float32Array[] = [];
  calibrationPrompts.forEach((_, q) =>
    options.utilitySeeds.forEach((seed) => ordinaryImages.push(image(0, calibrationAt + q, seed))),
  );
  const ordinary = await timed('calibration scores', () => copyScores(ordinaryImages, train));
  const thresholds = calibrateCopyRules(ordinary, options.calibrationQuantile, train.detector);
  const memorizedImages = plans.map((_plan, c) =>
    memorized.flatMap((_, p) => options.seeds.map((seed) => image(c, p, seed))),
  );
  const memorizedScores = await timed('copy scores', () => copyScores(memorizedImages.flat(), train));
  const perPlan = memorized.length * options.seeds.length;

  const measured = plans.map((_plan, c) => {
    const scores = memorizedScores.slice(c * perPlan, (c + 1) * perPlan);
    const own = memorized.flatMap((m) => options.seeds.map(() => m.imageIndex));
    const neutral = split.evaluation.flatMap((prompt, q) => options.utilitySeeds.map((seed) => ({ prompt, q, seed })));
    const utility = summarizeUtility(
      manifest,
      neutral.map((n) => n.prompt),
      neutral.map((n) => image(c, memorized.length + n.q, n.seed)),
      neutral.map((n) => image(0, memorized.length + n.q, n.seed)),
    );
    return { replication: summarizeReplication(scores, own, thresholds), utility };
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
      replication: poolReplication(draws.map((m) => m.replication)),
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
    schema: 'memlab-eval/2',
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
    calibration: thresholds,
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
