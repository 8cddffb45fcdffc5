/**
 * The computations more than one science job needs, each stored under ONE cache key built from its
 * inputs with every default resolved, so any job that asks for the same computation gets it from
 * the cache: the lab's "Find universal mask" and "Evaluate" share the universal scores (minutes of
 * ablation), "Localize (NeMo)" and the evaluation share the neutral reference and the per-caption
 * NeMo search, "Run detection study" and the evaluation share the study. A key names the model
 * (id@version), so a new model version never reads an old result.
 */
import type { Manifest } from '../manifest';
import { type ExperimentCache, cached, experimentKey } from './cache';
import type { RunContext } from './context';
import type { ScienceRunner } from './sampler';
import type { DetectionOptions } from './detect';
import {
  type NemoLocalization,
  type NemoOptions,
  type NeutralReference,
  localizeNemo,
  neutralReference,
} from './localize';
import { type DetectionStudy, type StudySets, runDetectionStudy } from './study';
import {
  DEFAULT_FLAG_Z,
  DEFAULT_MAX_FLAGGED,
  type UniversalOptions,
  type UniversalScores,
  neutralSplit,
  universalScores,
} from './universal';

/** The detector settings that decide a result (maxRows only batches the same rows). */
function detectorSettings(d: DetectionOptions) {
  return { seeds: [...d.seeds], steps: d.steps, k: d.k, guidance: d.guidance };
}

/** Key of a detection study: detector settings and the prompts it scores (imported sets, or the manifest's). */
export function detectionStudyKey(manifest: Manifest, options: DetectionOptions & StudySets): string {
  const detection = detectorSettings(options);
  if (options.promptSets) return experimentKey(manifest, 'detection-study/2', { detection, sets: options.promptSets });
  return experimentKey(manifest, 'detection-study/2', {
    detection,
    neutralLimit: Math.min(options.neutralLimit ?? manifest.neutralPrompts.length, manifest.neutralPrompts.length),
    heldOutTemplates: options.heldOutTemplates ?? true,
  });
}

export function cachedDetectionStudy(
  runner: ScienceRunner,
  manifest: Manifest,
  options: DetectionOptions & StudySets,
  ctx: RunContext,
  cache: ExperimentCache | undefined,
): Promise<DetectionStudy> {
  return cached(cache, detectionStudyKey(manifest, options), () => runDetectionStudy(runner, manifest, options, ctx));
}

/** Key of the universal scores: the method, the flagging detector, the reference prompts and the flagging limits. */
export function universalScoresKey(manifest: Manifest, options: UniversalOptions): string {
  return experimentKey(manifest, 'universal-scores/3', {
    units: options.units,
    mode: options.mode,
    detection: detectorSettings(options.detection),
    reference: [...(options.reference ?? neutralSplit(manifest).reference)],
    maxFlagged: options.maxFlagged ?? DEFAULT_MAX_FLAGGED,
    flagZ: options.flagZ ?? DEFAULT_FLAG_Z,
    // the organism's default pool is named by the model; an imported one by its prompts
    ...(options.pool ? { pool: [...options.pool] } : {}),
  });
}

export function cachedUniversalScores(
  runner: ScienceRunner,
  manifest: Manifest,
  options: UniversalOptions,
  ctx: RunContext,
  cache: ExperimentCache | undefined,
): Promise<UniversalScores> {
  return cached(cache, universalScoresKey(manifest, options), () => universalScores(runner, manifest, options, ctx));
}

/** Key of NeMo's neutral reference: the neutral prompts and the seeds. */
export function neutralReferenceKey(manifest: Manifest, prompts: readonly string[], seeds: readonly number[]): string {
  return experimentKey(manifest, 'neutral-reference/2', { prompts: [...prompts], seeds: [...seeds] });
}

export function cachedNeutralReference(
  runner: ScienceRunner,
  manifest: Manifest,
  prompts: readonly string[],
  seeds: readonly number[],
  ctx: RunContext,
  cache: ExperimentCache | undefined,
): Promise<NeutralReference> {
  return cached(cache, neutralReferenceKey(manifest, prompts, seeds), () =>
    neutralReference(runner, manifest, prompts, seeds, ctx),
  );
}

/** What a NeMo localization depends on besides the model: the prompt, the reference it is measured against, the search. */
export interface NemoInputs {
  prompt: string;
  referencePrompts: readonly string[];
  seeds: readonly number[];
  search: NemoOptions;
}

/** Key of one prompt's NeMo localization. */
export function nemoKey(manifest: Manifest, inputs: NemoInputs): string {
  const { thetaStart, thetaStep, thetaMin, maxEvaluations } = inputs.search;
  return experimentKey(manifest, 'nemo-localization', {
    prompt: inputs.prompt,
    reference: [...inputs.referencePrompts],
    seeds: [...inputs.seeds],
    search: { thetaStart, thetaStep, thetaMin, maxEvaluations: maxEvaluations ?? 80 },
  });
}

/** NeMo for one prompt against the neutral reference, which is cached on its own (a second prompt needs only its search). */
export async function nemoLocalization(
  runner: ScienceRunner,
  manifest: Manifest,
  inputs: NemoInputs,
  ctx: RunContext,
  cache: ExperimentCache | undefined,
): Promise<NemoLocalization> {
  const reference = await cachedNeutralReference(runner, manifest, inputs.referencePrompts, inputs.seeds, ctx, cache);
  return localizeNemo(runner, manifest, inputs.prompt, reference, inputs.search, ctx);
}

export function cachedNemo(
  runner: ScienceRunner,
  manifest: Manifest,
  inputs: NemoInputs,
  ctx: RunContext,
  cache: ExperimentCache | undefined,
): Promise<NemoLocalization> {
  return cached(cache, nemoKey(manifest, inputs), () => nemoLocalization(runner, manifest, inputs, ctx, cache));
}
