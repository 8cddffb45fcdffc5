/**
 * What a finished job changes in the lab besides its own result, as pure conversions: an
 * attribution colours the head grid, a universal mask becomes masks at a sparsity and the
 * "Memorization removed" preset.
 */
import type { PrunedUnits } from '../experiment/experiment';
import type { Manifest } from '../manifest';
import type { AblationAttribution } from '../science/localize';
import { type UniversalScores, defaultSparsity, universalUnits } from '../science/universal';

/** Scores the head grid is coloured by, per mask input, layer-major. */
export interface UnitScores {
  /** legend title, e.g. "ablation attribution (memorized − neutral)" */
  label: string;
  masks: Record<string, Float32Array>;
}

/** A named pruning a class can start from (the science work supplies the memorization one). */
export interface PruningPreset {
  label: string;
  prompt: string;
  masks: PrunedUnits;
}

export interface JobEffects {
  unitScores?: UnitScores;
  pruningPreset?: PruningPreset | null;
}

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
