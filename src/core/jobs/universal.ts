/** The universal mask's scores: one mask for every prompt, built without the memorized labels. */
import type { Manifest } from '../manifest';
import type { DetectionOptions } from '../science/detect';
import { universalScoresKey } from '../science/shared-computations';
import {
  type UniversalMethod,
  type UniversalOptions,
  type UniversalScores,
  methodFor,
  splitNeutral,
  universalScores,
} from '../science/universal';
import { studySources } from '../science/prompt-sources';
import type { PromptSet } from '../prompts/types';
import { universalMaskPreset } from './effects';
import { type LabJobSpec, setsOf } from './job';
import { universalScoring } from './sizes';
import { universalTable } from './result-tables';

/** neutralLimit: the reference is the first half of the first n neutral prompts */
export type UniversalParams = UniversalMethod & {
  detection: DetectionOptions;
  neutralLimit: number;
  maxFlagged?: number;
  /** imported prompt sets: the pool is every prompt not labelled non-memorized, the reference the non-memorized ones */
  promptSets?: PromptSet[];
};

const universalOptions = (manifest: Manifest, p: UniversalParams): UniversalOptions => {
  const sources = studySources(manifest, p.promptSets);
  return {
    units: p.units,
    mode: p.mode,
    detection: p.detection,
    maxFlagged: p.maxFlagged,
    reference: splitNeutral(sources.neutral, p.neutralLimit).reference,
    ...(p.promptSets ? { pool: sources.pool } : {}),
  };
};

/** Stored under the evaluation's key for the same scores, so Evaluate afterwards skips the ablation. */
export const universalJob: LabJobSpec<UniversalParams, UniversalScores> = {
  label: 'Universal mask scores',
  panel: 'science',
  defaults: (manifest, lab) => ({ ...methodFor(lab.units), ...universalScoring(manifest, lab.units), ...setsOf(lab) }),
  cacheKey: (manifest, p) => universalScoresKey(manifest, universalOptions(manifest, p)),
  run: (env, p) => universalScores(env.runner, env.manifest, universalOptions(env.manifest, p), env),
  effects: (manifest, result) => ({ pruningPreset: universalMaskPreset(manifest, result) }),
  table: universalTable,
};
