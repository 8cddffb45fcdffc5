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
import { type MaskSet, allOnes } from '../masks';
import { noiseGapScore } from '../metrics/detection';
import { rgbImageOfChw } from '../metrics/embedding';
import { REFERENCE_NAMING } from '../prompts/references';
import { type SampleRow, encodePrompts, sampleRows } from './batch';
import type { ExperimentCache } from './cache';
import type { RunContext } from './context';
import { type EvaluationOptions, imageRmse } from './evaluate';
import type { NemoLocalization } from './localize';
import { requireMemorized, requireNeutral, studySources } from './prompt-sources';
import type { ScienceRunner } from './sampler';
import { cachedDetectionStudy, cachedNemo, cachedNeutralReference, cachedUniversalScores } from './shared-computations';
import type { DetectionStudy } from './study';
import {
  type UniversalScores,
  checkUniversalMethod,
  randomUnits,
  splitNeutral,
  universalSpec,
  universalUnits,
} from './universal';
import { VALUE_NEURON_KIND, maskSetPruning, maskSpecOfKind, unitCount } from './units';
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

interface Plan {
  id: string;
  kind: ConditionKind;
  sparsity: number | null;
  draw?: number;
  memorizedMask: number[];
  neutralMask: number;
  pruned: number;
  mask: string;
  units?: number[];
}

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
  const stagesMs: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      stagesMs[name] = performance.now() - t;
    }
  };
  checkUniversalMethod(options.universal);
  const sources = studySources(manifest, options.promptSets);
  requireMemorized(sources.memorized, 'The evaluation');
  const split = splitNeutral(sources.neutral, options.neutralLimit);
  requireNeutral(split.evaluation, 'The evaluation');
  const memorized = sources.memorized.slice(0, options.memorizedLimit ?? sources.memorized.length);
  const spec = universalSpec(manifest, options.universal.units);
  const valueSpec = maskSpecOfKind(manifest, VALUE_NEURON_KIND);

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
        ...(options.promptSets ? { pool: sources.pool } : {}),
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
      for (const prompt of memorized) {
        const inputs = { prompt, referencePrompts: split.reference, seeds, search: { maxEvaluations } };
        out.push(await cachedNemo(runner, manifest, inputs, ctx, cache));
      }
      return out;
    });
  }

  const maskSets: MaskSet[] = [allOnes(manifest)];
  const addMask = (flat: number[], of = spec) => maskSets.push(maskSetPruning(manifest, of, flat)) - 1;
  const plans: Plan[] = [
    {
      id: 'none',
      kind: 'none',
      sparsity: null,
      memorizedMask: memorized.map(() => 0),
      neutralMask: 0,
      pruned: 0,
      mask: spec.name,
    },
  ];
  if (nemo) {
    const union = [...new Set(nemo.flatMap((n) => n.search.refined))].sort((a, b) => a - b);
    plans.push({
      id: 'nemo',
      kind: 'nemo',
      sparsity: null,
      memorizedMask: nemo.map((n) => addMask(n.search.refined, valueSpec)),
      neutralMask: addMask(union, valueSpec),
      pruned: mean(nemo.map((n) => n.search.refined.length)),
      mask: valueSpec.name,
    });
  }
  for (const s of options.sparsities) {
    const chosen = universalUnits(universal.scores, s);
    const u = addMask(chosen);
    const at = { sparsity: s, neutralMask: u, pruned: chosen.length, mask: spec.name };
    plans.push({
      id: `universal@${s}`,
      kind: 'universal',
      memorizedMask: memorized.map(() => u),
      units: chosen,
      ...at,
    });
    for (let d = 0; d < options.randomDraws; d++) {
      const r = addMask(randomUnits(unitCount(spec), chosen.length, 7919 * (d + 1) + Math.round(s * 1e6)));
      plans.push({
        id: `random@${s}#${d}`,
        kind: 'random',
        draw: d,
        ...at,
        neutralMask: r,
        memorizedMask: memorized.map(() => r),
      });
    }
  }

  const prompts = [...memorized, ...split.evaluation];
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
  const sampled = await timed('generation', async () =>
    sampleRows(
      runner,
      manifest,
      await encodePrompts(runner, manifest, prompts, ctx),
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
    ),
  );
  const row = (c: number, p: number, seed: number) => rowOf.get(`${c}/${p}/${seed}`)!;
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
      mask: plan.mask,
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
