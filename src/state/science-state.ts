/**
 * The store's view of the science jobs: which one runs (with its progress), the latest result of
 * each job for the loaded model, and the pure conversions from results to what the lab applies
 * (head-grid scores, masks, the "Memorization removed" preset). The store wires them.
 */
import type { Manifest } from '../core/manifest';
import {
  type AblationAttribution,
  type AblationUnits,
  type UniversalScores,
  DEFAULT_UNIVERSAL,
  defaultSparsity,
  universalUnits,
} from '../core/science';
import type { ScienceJob, ScienceResultMap } from '../workers/science';
import type { PruningPreset, UnitScores } from './analysis-state';

export interface ScienceRun {
  /** the inference request id (Cancel names it) */
  id: number;
  job: ScienceJob;
  stage: string;
  done: number;
  total: number;
}

export interface ScienceData {
  running: ScienceRun | null;
  /** the latest result of each job for the loaded model */
  results: Partial<ScienceResultMap>;
  /** per job: whether its latest result came from the cache, and how long it took */
  meta: Partial<Record<ScienceJob, { cached: boolean; ms: number }>>;
  /** what the universal mask prunes (the select): cross-attention heads or value neurons */
  unitKind: AblationUnits;
  /** the universal mask's share of its units (the slider) */
  sparsity: number;
}

export const emptyScience = (): ScienceData => ({
  running: null,
  results: {},
  meta: {},
  unitKind: DEFAULT_UNIVERSAL.units,
  sparsity: defaultSparsity(DEFAULT_UNIVERSAL.units),
});

export const ATTRIBUTION_LABEL = 'ablation attribution: Wen-score drop, memorized − neutral';

/** An attribution as head-grid scores: every unit of its mask, layer-major (0 where not measured). */
export function attributionScores(a: AblationAttribution): UnitScores {
  const flat = new Float32Array(a.layers * a.unitsPerLayer);
  a.units.forEach((j, i) => (flat[j] = a.universal[i]));
  return { label: ATTRIBUTION_LABEL, masks: { [a.mask]: flat } };
}

/** The universal mask at a sparsity, as the experiment's masks for its mask input. */
export function universalMasks(u: UniversalScores, sparsity: number): Record<string, number[]> {
  return { [u.mask]: universalUnits(u.scores, sparsity) };
}

/** "Memorization removed": the first memorized caption with the universal mask at its kind's default sparsity. */
export function memorizationRemovedPreset(manifest: Manifest, u: UniversalScores): PruningPreset | null {
  const prompt = manifest.memorized[0]?.caption;
  if (!prompt) return null;
  const sparsity = defaultSparsity(u.units);
  return {
    label: `Memorization removed (universal ${Math.round(sparsity * 100)}% of ${u.units})`,
    prompt,
    masks: universalMasks(u, sparsity),
  };
}

/** What a finished job changes besides its own result (attribution: the grid's scores; universal: the preset). */
export function sideEffectsOf(
  manifest: Manifest,
  outcome: { [J in ScienceJob]: { job: J; result: ScienceResultMap[J] } }[ScienceJob],
): { unitScores?: UnitScores; pruningPreset?: PruningPreset | null } {
  if (outcome.job === 'attribution') return { unitScores: attributionScores(outcome.result) };
  if (outcome.job === 'universal') return { pruningPreset: memorizationRemovedPreset(manifest, outcome.result) };
  return {};
}
