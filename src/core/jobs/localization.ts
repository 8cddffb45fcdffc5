/** Localization jobs: which heads (ablation attribution) or value neurons (NeMo) carry memorization. */
import { experimentKey } from '../science/cache';
import { type AblationAttribution, type NemoLocalization, ablationAttribution } from '../science/localize';
import { type NemoInputs, nemoKey, nemoLocalization } from '../science/shared-computations';
import { neutralSplit } from '../science/universal';
import type { Manifest } from '../manifest';
import { attributionScores } from './effects';
import type { LabJobSpec } from './job';
import { labSizes } from './sizes';

/** Per-head ablation: memorized captions (first n) against the reference half of the neutral prompts. */
export interface AttributionParams {
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
  defaults: (manifest) => {
    const { smoke, steps, detection, neutralLimit, guidance } = labSizes(manifest);
    return {
      memorizedLimit: smoke ? 4 : manifest.memorized.length,
      neutralLimit,
      seeds: smoke ? [1] : [1, 2],
      steps,
      k: detection.k,
      guidance,
    };
  },
  cacheKey: (manifest, p) => experimentKey(manifest, 'attribution', p),
  run: (env, p) =>
    ablationAttribution(
      env.runner,
      env.manifest,
      {
        units: 'heads',
        memorized: env.manifest.memorized.slice(0, p.memorizedLimit).map((m) => m.caption),
        neutral: neutralSplit(env.manifest, p.neutralLimit).reference,
        seeds: p.seeds,
        steps: p.steps,
        k: p.k,
        guidance: p.guidance,
      },
      env,
    ),
  effects: (_manifest, result) => ({ unitScores: attributionScores(result) }),
};

/** NeMo on one prompt; neutralLimit: its statistics come from the reference half of the first n neutral prompts. */
export interface NemoParams {
  prompt: string;
  neutralLimit: number;
  seeds: number[];
  maxEvaluations: number;
}

const nemoInputs = (manifest: Manifest, p: NemoParams): NemoInputs => ({
  prompt: p.prompt,
  referencePrompts: neutralSplit(manifest, p.neutralLimit).reference,
  seeds: p.seeds,
  search: { maxEvaluations: p.maxEvaluations },
});

/** Stored under the same key as the evaluation's NeMo for a caption; the neutral reference is cached on its own. */
export const nemoJob: LabJobSpec<NemoParams, NemoLocalization> = {
  label: 'NeMo localization',
  panel: 'science',
  defaults: (manifest, lab) => {
    const { smoke, neutralLimit } = labSizes(manifest);
    return {
      prompt: lab.prompt,
      neutralLimit,
      seeds: smoke ? [21, 22] : [21, 22, 23, 24],
      maxEvaluations: smoke ? 6 : 60,
    };
  },
  cacheKey: (manifest, p) => nemoKey(manifest, nemoInputs(manifest, p)),
  run: (env, p) => nemoLocalization(env.runner, env.manifest, nemoInputs(env.manifest, p), env, env.cache),
};
