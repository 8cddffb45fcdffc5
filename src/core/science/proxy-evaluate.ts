/**
 * The evaluation for a model that brings no reference images (a Stable Diffusion folder with
 * imported prompt lists): replication needs the training images the prompts may copy, so it is
 * not measured, and the report says so. What needs no images is measured under the same
 * conditions as evaluate.ts (no mask, NeMo per memorized prompt, the universal mask at each
 * sparsity, random masks of the same size):
 *
 *   memorized noise gap   Wen et al.'s score (mean ||eps_cond - eps_uncond|| over the first k
 *                         steps) of the memorized prompts' generations under the mask, and its
 *                         share of the unpruned score: a mask that stops copying should close it
 *   memorized change      RMSE of those generations against the unpruned model's (same prompt, seed)
 *   neutral change        the same on the evaluation half of the neutral prompts: the cost to
 *                         ordinary prompts (lower is better), standing in for adherence
 *
 * Given reference images (StudyReferences: a folder matched to the memorized prompts), replication
 * is measured too, on the memorized prompts that have one (proxy-replication.ts), beside the proxies;
 * prompts without one keep the proxies only, and the report says how many had one.
 *
 * Every condition's generations run in one batched sampleRows call, as in evaluate.ts.
 */
import type { Manifest } from '../manifest';
import { noiseGapScore } from '../metrics/detection';
import { rgbImageOfChw } from '../metrics/embedding';
import { REFERENCE_NAMING } from '../prompts/references';
import { conditionRows, planConditions, sampleConditionRows, stageTimer } from './conditions';
import type { ExperimentCache } from './cache';
import type { RunContext } from './context';
import { type EvaluationOptions, imageRmse } from './evaluate';
import { requireMemorized, requireNeutral, studySources } from './prompt-sources';
import type { ScienceRunner } from './sampler';
import type { DetectionStudy } from './study';
import { type UniversalScores, splitNeutral } from './universal';
import { unitCount } from './units';
import type { ConditionKind } from './evaluate';
import {
  type ConditionReplication,
  type MeasuredReplication,
  type ReferenceCoverage,
  type ReplicationCounts,
  REPLICATION_RULE,
  type StudyReferences,
  calibrateReplication,
  conditionReplication,
  countReplications,
  embedStudyReferences,
  measuredReplicationReason,
  referenceCoverage,
} from './proxy-replication';

/** Why the report has no replication numbers, in words. */
export const REPLICATION_NEEDS_REFERENCES =
  'Replication needs reference images (the training images the prompts may copy), and this model brings none; ' +
  'the evaluation reports what needs no images: the noise gap of memorized prompts under each mask and how much each mask changes the images.';

export interface ProxyMeasures {
  /** mean Wen score of the memorized prompts' generations under the mask */
  memorizedNoiseGap: number;
  /** memorizedNoiseGap over the unpruned model's (1 for no mask) */
  memorizedNoiseGapRatio: number;
  /** mean RMSE ([-1, 1] units) of the memorized prompts' images against the unpruned model's */
  memorizedChange: number;
  /** mean RMSE of the neutral prompts' images against the unpruned model's */
  neutralChange: number;
}

export interface ProxyConditionResult extends ProxyMeasures {
  /** with reference images: the memorized prompts that have one, pooled over random draws */
  replication?: ConditionReplication;
  id: string;
  kind: ConditionKind;
  sparsity: number | null;
  mask: string;
  pruned: number;
  prunedFraction: number;
  /** random: one entry per draw (the condition's numbers are their means) */
  draws?: (ProxyMeasures & { replicationRate?: number })[];
  /** universal: the pruned flat unit indices of `mask` */
  units?: number[];
}

export interface ProxyEvaluationReport {
  schema: 'memlab-eval-proxy/1';
  model: { id: string; version: string };
  options: EvaluationOptions;
  /** measured when reference images matched some memorized prompts; else why not (and, when a folder was given, what it matched) */
  replication: { measured: false; reason: string; references?: ReferenceCoverage } | MeasuredReplication;
  detection: DetectionStudy;
  universal: Omit<UniversalScores, 'poolWen' | 'referenceWen'>;
  nemo: { target: number; prompts: { prompt: string; found: boolean; pruned: number }[] } | null;
  conditions: ProxyConditionResult[];
  timings: {
    totalMs: number;
    stagesMs: Record<string, number>;
    sampling: { unetCalls: number; unetRows: number; msPerCall: number; msPerRow: number };
  };
}

const mean = (values: readonly number[]) => (values.length ? values.reduce((s, v) => s + v, 0) / values.length : 0);

/** Runs detection, localization, universal masks and the image-free evaluation; see the file comment. */
export async function runProxyEvaluation(
  runner: ScienceRunner,
  manifest: Manifest,
  options: EvaluationOptions,
  ctx: RunContext = {},
  cache?: ExperimentCache,
  references?: StudyReferences,
): Promise<ProxyEvaluationReport> {
  const began = performance.now();
  const { stagesMs, timed } = stageTimer();
  const sources = studySources(manifest, options.promptSets);
  requireMemorized(sources.memorized, 'The evaluation');
  const split = splitNeutral(sources.neutral, options.neutralLimit);
  requireNeutral(split.evaluation, 'The evaluation');
  const memorized = sources.memorized.slice(0, options.memorizedLimit ?? sources.memorized.length);
  const { detection, universal, nemo, nemoTarget, spec, valueSpec, maskSets, plans } = await planConditions(
    runner,
    manifest,
    options,
    { memorized, reference: split.reference, ...(options.promptSets ? { pool: sources.pool } : {}) },
    timed,
    ctx,
    cache,
  );

  const prompts = [...memorized, ...split.evaluation];
  const { rows, row } = conditionRows(plans, memorized.length, split.evaluation.length, options);
  const sampled = await timed('generation', () =>
    sampleConditionRows(runner, manifest, prompts, maskSets, rows, options, ctx),
  );
  const k = options.detection.k;
  const measure = (c: number): Omit<ProxyMeasures, 'memorizedNoiseGapRatio'> => {
    const gaps: number[] = [];
    const memChange: number[] = [];
    memorized.forEach((_, p) =>
      options.seeds.forEach((seed) => {
        gaps.push(noiseGapScore(sampled.gaps[row(c, p, seed)], k));
        memChange.push(imageRmse(sampled.images![row(c, p, seed)], sampled.images![row(0, p, seed)]));
      }),
    );
    const neuChange: number[] = [];
    split.evaluation.forEach((_, q) =>
      options.utilitySeeds.forEach((seed) => {
        const p = memorized.length + q;
        neuChange.push(imageRmse(sampled.images![row(c, p, seed)], sampled.images![row(0, p, seed)]));
      }),
    );
    return { memorizedNoiseGap: mean(gaps), memorizedChange: mean(memChange), neutralChange: mean(neuChange) };
  };
  const raw = plans.map((_, c) => measure(c));
  const unpruned = raw[0].memorizedNoiseGap;
  const measured: ProxyMeasures[] = raw.map((m) => ({
    ...m,
    memorizedNoiseGapRatio: unpruned > 0 ? m.memorizedNoiseGap / unpruned : Number.NaN,
  }));

  const conditions: ProxyConditionResult[] = [];
  plans.forEach((plan, c) => {
    if (plan.kind === 'random' && plan.draw! > 0) return; // folded into draw 0's entry
    const of = plan.kind === 'nemo' ? valueSpec : spec;
    const base = {
      id: plan.id,
      kind: plan.kind,
      sparsity: plan.sparsity,
      mask: of.name,
      pruned: plan.pruned,
      prunedFraction: plan.pruned / unitCount(of),
      ...(plan.units ? { units: plan.units } : {}),
    };
    if (plan.kind !== 'random') {
      conditions.push({ ...base, ...measured[c] });
      return;
    }
    const draws = plans.flatMap((p, i) => (p.kind === 'random' && p.sparsity === plan.sparsity ? [measured[i]] : []));
    const avg = (key: keyof ProxyMeasures) => mean(draws.map((d) => d[key]));
    conditions.push({
      ...base,
      id: `random@${plan.sparsity}`,
      memorizedNoiseGap: avg('memorizedNoiseGap'),
      memorizedNoiseGapRatio: avg('memorizedNoiseGapRatio'),
      memorizedChange: avg('memorizedChange'),
      neutralChange: avg('neutralChange'),
      draws,
    });
  });

  let replication: ProxyEvaluationReport['replication'] = { measured: false, reason: REPLICATION_NEEDS_REFERENCES };
  if (references) {
    const coverage = referenceCoverage(references, memorized);
    if (coverage.withReference === 0) {
      replication = {
        measured: false,
        reason: `Replication needs reference images, and none of the ${memorized.length} memorized prompts evaluated has one. ${coverage.summaries.join(' ')} ${REFERENCE_NAMING}`,
        references: coverage,
      };
    } else {
      replication = await timed('replication', async () => {
        const { width, height } = manifest.image;
        const rgb = (r: number) => rgbImageOfChw(sampled.images![r], width, height);
        const refs = await embedStudyReferences(references);
        const ordinary = split.evaluation.flatMap((_, q) =>
          options.utilitySeeds.map((seed) => rgb(row(0, memorized.length + q, seed))),
        );
        const calibration = await calibrateReplication(references.encoder, refs, ordinary, options.calibrationQuantile);
        const counts: ReplicationCounts[] = [];
        for (let c = 0; c < plans.length; c++) {
          const generations = memorized.flatMap((caption, p) =>
            refs.rowOf.has(caption) ? options.seeds.map((seed) => ({ caption, image: rgb(row(c, p, seed)) })) : [],
          );
          counts.push(await countReplications(references.encoder, refs, generations, calibration.threshold));
        }
        conditions.forEach((condition) => {
          const of = plans.flatMap((p, i) =>
            p.kind === condition.kind && p.sparsity === condition.sparsity ? [counts[i]] : [],
          );
          condition.replication = conditionReplication(of);
          if (condition.draws)
            condition.draws = condition.draws.map((d, i) => ({
              ...d,
              replicationRate: conditionReplication([of[i]]).rate,
            }));
        });
        return {
          measured: true as const,
          reason: measuredReplicationReason(coverage, calibration, references.encoder.id),
          rule: REPLICATION_RULE,
          encoder: references.encoder.id,
          description: references.encoder.description,
          calibration,
          references: coverage,
        };
      });
    }
  }

  const { poolWen: _p, referenceWen: _r, ...universalSummary } = universal;
  return {
    schema: 'memlab-eval-proxy/1',
    model: { id: manifest.id, version: manifest.version },
    options,
    replication,
    detection,
    universal: universalSummary,
    nemo: nemo
      ? {
          target: nemoTarget,
          prompts: nemo.map((n) => ({ prompt: n.prompt, found: n.search.found, pruned: n.search.refined.length })),
        }
      : null,
    conditions,
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
