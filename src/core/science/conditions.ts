/**
 * The conditions both evaluations compare (evaluate.ts with training images, proxy-evaluate.ts
 * without): the detection study and the universal scores they start from, NeMo per memorized
 * prompt, then one mask set per condition (no mask, NeMo, the universal mask at each sparsity,
 * random masks of the same size) and the rows of the one batched generation run over them.
 */
import type { Manifest } from '../manifest';
import { type MaskSet, allOnes } from '../masks';
import { type SampleResult, type SampleRow, encodePrompts, sampleRows } from './batch';
import type { ExperimentCache } from './cache';
import type { RunContext } from './context';
import type { ConditionKind, EvaluationOptions } from './evaluate';
import type { NemoLocalization } from './localize';
import type { ScienceRunner } from './sampler';
import { cachedDetectionStudy, cachedNemo, cachedNeutralReference, cachedUniversalScores } from './shared-computations';
import type { DetectionStudy } from './study';
import { type UniversalScores, checkUniversalMethod, randomUnits, universalSpec, universalUnits } from './universal';
import type { MaskSpec } from '../manifest';
import { VALUE_NEURON_KIND, maskSetPruning, maskSpecOfKind, unitCount } from './units';

/** Wall time per named stage of a long computation, for a report's timings. */
export function stageTimer() {
  const stagesMs: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => Promise<T>): Promise<T> => {
    const t = performance.now();
    try {
      return await f();
    } finally {
      stagesMs[name] = performance.now() - t;
    }
  };
  return { stagesMs, timed };
}

export type Timed = ReturnType<typeof stageTimer>['timed'];

export interface PlannedCondition {
  id: string;
  kind: ConditionKind;
  sparsity: number | null;
  draw?: number;
  /** mask set index for each memorized prompt, and for neutral prompts */
  memorizedMask: number[];
  neutralMask: number;
  pruned: number;
  units?: number[];
}

/** The prompts a study's conditions are measured on. */
export interface ConditionPrompts {
  memorized: readonly string[];
  /** neutral prompts the universal mask and NeMo compare against */
  reference: readonly string[];
  /** the universal mask's unlabelled pool, when it is not the manifest's training captions */
  pool?: readonly string[];
}

export interface PlannedConditions {
  detection: DetectionStudy;
  universal: UniversalScores;
  nemo: NemoLocalization[] | null;
  nemoTarget: number;
  /** the universal kind's mask, and the value neurons' (NeMo's) */
  spec: MaskSpec;
  valueSpec: MaskSpec;
  maskSets: MaskSet[];
  plans: PlannedCondition[];
}

const mean = (values: readonly number[]) => (values.length ? values.reduce((s, v) => s + v, 0) / values.length : 0);

/** Detection, universal scores and NeMo (each from the cache when it has them), and every condition's masks. */
export async function planConditions(
  runner: ScienceRunner,
  manifest: Manifest,
  options: EvaluationOptions,
  prompts: ConditionPrompts,
  timed: Timed,
  ctx: RunContext = {},
  cache?: ExperimentCache,
): Promise<PlannedConditions> {
  checkUniversalMethod(options.universal);
  const spec = universalSpec(manifest, options.universal.units);
  const valueSpec = maskSpecOfKind(manifest, VALUE_NEURON_KIND);
  const reference = [...prompts.reference];

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
        reference,
        maxFlagged: options.maxFlagged,
        ...(prompts.pool ? { pool: [...prompts.pool] } : {}),
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
      nemoTarget = (await cachedNeutralReference(runner, manifest, reference, seeds, ctx, cache)).target;
      const out: NemoLocalization[] = [];
      for (const prompt of prompts.memorized) {
        const inputs = { prompt, referencePrompts: reference, seeds, search: { maxEvaluations } };
        out.push(await cachedNemo(runner, manifest, inputs, ctx, cache));
      }
      return out;
    });
  }

  const maskSets: MaskSet[] = [allOnes(manifest)];
  const addMask = (flat: number[], of = spec) => maskSets.push(maskSetPruning(manifest, of, flat)) - 1;
  const unpruned = prompts.memorized.map(() => 0);
  const plans: PlannedCondition[] = [
    { id: 'none', kind: 'none', sparsity: null, memorizedMask: unpruned, neutralMask: 0, pruned: 0 },
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
      memorizedMask: prompts.memorized.map(() => u),
      neutralMask: u,
      pruned: chosen.length,
      units: chosen,
    });
    for (let d = 0; d < options.randomDraws; d++) {
      const r = addMask(randomUnits(unitCount(spec), chosen.length, 7919 * (d + 1) + Math.round(s * 1e6)));
      plans.push({
        id: `random@${s}#${d}`,
        kind: 'random',
        sparsity: s,
        draw: d,
        memorizedMask: prompts.memorized.map(() => r),
        neutralMask: r,
        pruned: chosen.length,
      });
    }
  }
  return { detection, universal, nemo, nemoTarget, spec, valueSpec, maskSets, plans };
}

/**
 * The rows of the batched run: per condition, every memorized prompt (indices 0..) with the
 * replication seeds, then every evaluation neutral prompt (after them) with the utility seeds.
 * `add` appends more rows (evaluate.ts: the calibration generations); `row` finds one.
 */
export function conditionRows(
  plans: readonly PlannedCondition[],
  memorizedCount: number,
  evaluationCount: number,
  options: Pick<EvaluationOptions, 'seeds' | 'utilitySeeds'>,
) {
  const rows: SampleRow[] = [];
  const rowOf = new Map<string, number>();
  const add = (plan: number, prompt: number, seed: number, maskSet: number) => {
    rowOf.set(`${plan}/${prompt}/${seed}`, rows.length);
    rows.push({ prompt, seed, maskSet });
  };
  plans.forEach((plan, c) => {
    for (let p = 0; p < memorizedCount; p++) for (const seed of options.seeds) add(c, p, seed, plan.memorizedMask[p]);
    for (let q = 0; q < evaluationCount; q++)
      for (const seed of options.utilitySeeds) add(c, memorizedCount + q, seed, plan.neutralMask);
  });
  const row = (plan: number, prompt: number, seed: number) => rowOf.get(`${plan}/${prompt}/${seed}`)!;
  return { rows, add, row };
}

/** The one batched generation run of both evaluations: every row of every condition, images kept. */
export async function sampleConditionRows(
  runner: ScienceRunner,
  manifest: Manifest,
  prompts: readonly string[],
  maskSets: readonly MaskSet[],
  rows: readonly SampleRow[],
  options: Pick<EvaluationOptions, 'steps' | 'guidance' | 'maxRows'>,
  ctx: RunContext,
): Promise<SampleResult> {
  return sampleRows(
    runner,
    manifest,
    await encodePrompts(runner, manifest, prompts, ctx),
    maskSets,
    rows,
    { steps: options.steps, guidance: options.guidance, keepImages: true, maxRows: options.maxRows, stage: 'evaluate' },
    ctx,
  );
}
