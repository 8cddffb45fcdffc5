/**
 * What a finished job changes in the lab besides its own result, as pure conversions: an
 * attribution colours the head grid, a universal mask becomes masks at a sparsity and the
 * "Universal mask" preset (which a model may also ship, made by the same recipe).
 */
import type { PrunedUnits } from '../experiment/experiment';
import type { Manifest } from '../manifest';
import type { MaskPreset } from '../presets';
import type { AblationAttribution } from '../science/localize';
import { type UniversalScores, defaultSparsity, universalUnits } from '../science/universal';

/** Scores the head grid is coloured by, per mask input, layer-major. */
export interface UnitScores {
  /** legend title, e.g. "ablation attribution (memorized − neutral)" */
  label: string;
  masks: Record<string, Float32Array>;
}

/** A named pruning a class can start from (the memorization one: shipped with the model, or computed). */
export interface PruningPreset {
  label: string;
  prompt: string;
  masks: PrunedUnits;
  /** shipped with the model (manifest presets) rather than computed in this session */
  shipped?: boolean;
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

// Named for what it is, not what it promises: by the copy detector this mask moves most memorized
// captions off their own artwork on the organism, yet most of those still copy another planted one.
const removedLabel = (sparsity: number, units: string) => `Universal mask (${Math.round(sparsity * 100)}% of ${units})`;

/** The universal-mask preset: the first memorized caption with the universal mask at its kind's default sparsity. */
export function universalMaskPreset(manifest: Manifest, u: UniversalScores): PruningPreset | null {
  const prompt = manifest.memorized[0]?.caption;
  if (!prompt) return null;
  const sparsity = defaultSparsity(u.units);
  return { label: removedLabel(sparsity, u.units), prompt, masks: universalMasks(u, sparsity) };
}

/** The universal mask a model ships (npm run model:presets), if its manifest lists one. */
export function shippedUniversalEntry(manifest: Manifest) {
  return manifest.presets?.find((p) => p.method === 'universal');
}

/** The universal-mask preset from the mask the model ships: the same prompt and label as a computed one. */
export function shippedUniversalPreset(manifest: Manifest, preset: MaskPreset): PruningPreset | null {
  const prompt = manifest.memorized[0]?.caption;
  if (!prompt || preset.method !== 'universal') return null;
  const label =
    preset.sparsity !== undefined && preset.unitKind ? removedLabel(preset.sparsity, preset.unitKind) : preset.label;
  return { label, prompt, masks: { ...preset.masks }, shipped: true };
}
