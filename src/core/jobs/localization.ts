/** Localization jobs: which heads (ablation attribution) or value neurons (NeMo) carry memorization. */
import { experimentKey } from '../science/cache';
import { type AblationAttribution, type NemoLocalization, ablationAttribution } from '../science/localize';
import { type NemoInputs, nemoKey, nemoLocalization } from '../science/shared-computations';
import { requireMemorized } from '../science/prompt-sources';
import { neutralSplit } from '../science/universal';
import type { Manifest } from '../manifest';
import { captionsLabelled } from '../prompts/selection';
import type { PromptSet } from '../prompts/types';
import { attributionScores } from './effects';
import type { LabJobSpec } from './job';
import { labSizes } from './sizes';
import { attributionTable, nemoTable } from './result-tables';

/** Per-head ablation: memorized captions (first n) against the reference half of the neutral prompts. */
export interface AttributionParams {
  /** chosen prompts (from the panel's prompt sets) instead of the model's memorized captions and neutral reference */
  memorized?: string[];
  neutral?: string[];
  memorizedLimit: number;
  neutralLimit: number;
  seeds: number[];
  steps: number;
  k: number;
  guidance: number;
}

export const attributionJob: LabJobSpec<AttributionParams, AblationAttribution> = {
  label: 'Head ablation attribution',
  panel: 'science',
  defaults: (manifest, lab) => {
    const { smoke, steps, detection, neutralLimit, guidance } = labSizes(manifest);
    const memorizedLimit = smoke ? 4 : manifest.memorized.length || DEFAULT_CHOSEN_LIMIT;
    return {
      ...(lab.promptSets ? chosenAttributionPrompts(lab.promptSets, memorizedLimit, neutralLimit) : {}),
      memorizedLimit,
      neutralLimit,
      seeds: smoke ? [1] : [1, 2],
      steps,
      k: detection.k,
      guidance,
    };
  },
  cacheKey: (manifest, p) => experimentKey(manifest, 'attribution', p),
  run: (env, p) => {
    const memorized = p.memorized ?? env.manifest.memorized.slice(0, p.memorizedLimit).map((m) => m.caption);
    requireMemorized(memorized, 'Head ablation attribution');
    return ablationAttribution(
      env.runner,
      env.manifest,
      {
        units: 'heads',
        memorized,
        neutral: p.neutral ?? neutralSplit(env.manifest, p.neutralLimit).reference,
        seeds: p.seeds,
        steps: p.steps,
        k: p.k,
        guidance: p.guidance,
      },
      env,
    );
  },
  effects: (_manifest, result) => ({ unitScores: attributionScores(result) }),
  table: attributionTable,
};

/** How many chosen memorized prompts a job takes when the model has no memorized set of its own to size it by. */
const DEFAULT_CHOSEN_LIMIT = 16;

/**
 * The first half of the first n of the chosen non-memorized prompts (the reference half, as
 * neutralSplit takes it from the manifest); undefined when none are chosen, so the job falls back to
 * the model's own. n = 0 (a model without neutral prompts of its own): all of them.
 */
function chosenReference(sets: readonly PromptSet[], limit: number): string[] | undefined {
  const all = captionsLabelled(sets, 'non-memorized');
  const first = all.slice(0, limit > 0 ? limit : all.length);
  return first.length > 0 ? first.slice(0, Math.ceil(first.length / 2)) : undefined;
}

/** Attribution's prompts from chosen sets: the first memorized captions, the reference half of the non-memorized. */
function chosenAttributionPrompts(sets: readonly PromptSet[], memorizedLimit: number, neutralLimit: number) {
  const memorized = captionsLabelled(sets, 'memorized', memorizedLimit);
  const neutral = chosenReference(sets, neutralLimit);
  return { ...(memorized.length > 0 ? { memorized } : {}), ...(neutral ? { neutral } : {}) };
}

/** NeMo on one prompt; neutralLimit: its statistics come from the reference half of the first n neutral prompts. */
export interface NemoParams {
  prompt: string;
  /** the neutral statistics' prompts when chosen in the panel (default: the model's reference half) */
  reference?: string[];
  neutralLimit: number;
  seeds: number[];
  maxEvaluations: number;
}

const nemoInputs = (manifest: Manifest, p: NemoParams): NemoInputs => ({
  prompt: p.prompt,
  referencePrompts: p.reference ?? neutralSplit(manifest, p.neutralLimit).reference,
  seeds: p.seeds,
  search: { maxEvaluations: p.maxEvaluations },
});

/** Stored under the same key as the evaluation's NeMo for a caption; the neutral reference is cached on its own. */
export const nemoJob: LabJobSpec<NemoParams, NemoLocalization> = {
  label: 'NeMo localization',
  panel: 'science',
  defaults: (manifest, lab) => {
    const { smoke, neutralLimit } = labSizes(manifest);
    const reference = lab.promptSets && chosenReference(lab.promptSets, neutralLimit);
    return {
      prompt: lab.prompt,
      ...(reference ? { reference } : {}),
      neutralLimit,
      seeds: smoke ? [21, 22] : [21, 22, 23, 24],
      maxEvaluations: smoke ? 6 : 60,
    };
  },
  cacheKey: (manifest, p) => nemoKey(manifest, nemoInputs(manifest, p)),
  run: (env, p) => nemoLocalization(env.runner, env.manifest, nemoInputs(env.manifest, p), env, env.cache),
  table: nemoTable,
};
