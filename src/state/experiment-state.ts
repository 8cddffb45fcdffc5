/**
 * The experiment part of the store: how the store's fields make an Experiment (the URL's
 * projection), how masks become the worker's MaskSets, and the small rules that keep every
 * experiment in the store valid (so the URL can always be written).
 */
import {
  emptyMasks,
  normalizeUnits,
  prunedCount,
  promptProblem,
  type Experiment,
  type PrunedUnits,
} from '../core/experiment/experiment';
import type { Manifest } from '../core/manifest';
import { allOnes, type MaskSet, maskSetOfUnits } from '../core/masks';

export interface ExperimentFields {
  manifest: Manifest | null;
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  masks: PrunedUnits;
}

/** The experiment the controls describe, or null before a manifest is loaded. */
export function experimentOf(s: ExperimentFields): Experiment | null {
  if (!s.manifest) return null;
  return {
    model: { id: s.manifest.id, version: s.manifest.version },
    prompt: s.prompt,
    seed: s.seed,
    steps: s.steps,
    guidance: s.guidance,
    scheduler: 'ddim',
    masks: s.masks,
  };
}

/**
 * The prompt without characters an experiment may not hold (control characters, angle brackets,
 * bidi overrides, broken surrogates): typing them would otherwise make the URL unwritable, and the
 * tokenizer drops them anyway except "<", which could spell a special token.
 */
export function sanitizePrompt(prompt: string, maxLength: number): string {
  let out = '';
  for (const ch of prompt) if (promptProblem(ch) === null) out += ch;
  return out.slice(0, maxLength);
}

/** Masks for this manifest: known names only, every name present, indices sorted and in range. */
export function cleanMasks(manifest: Manifest, masks: PrunedUnits): PrunedUnits {
  const out = emptyMasks(manifest);
  for (const spec of manifest.unet.masks) {
    const units = Object.hasOwn(masks, spec.name) ? masks[spec.name] : [];
    const size = spec.layers * spec.units;
    out[spec.name] = normalizeUnits(units.filter((u) => Number.isInteger(u) && u >= 0 && u < size));
  }
  return out;
}

/** What one generate request runs: the baseline alone, or [baseline, pruned] in one batch. */
export function variantsFor(manifest: Manifest, masks: PrunedUnits): MaskSet[] {
  const baseline = allOnes(manifest);
  return prunedCount(masks) > 0 ? [baseline, maskSetOfUnits(manifest, masks)] : [baseline];
}

/** Pruned flags for one mask (a view's boolean[]) <-> its sorted index list. */
export function flagsOf(units: readonly number[], size: number): boolean[] {
  const flags = new Array<boolean>(size).fill(false);
  for (const u of units) if (u >= 0 && u < size) flags[u] = true;
  return flags;
}

export function unitsOf(flags: readonly boolean[]): number[] {
  const out: number[] = [];
  flags.forEach((f, i) => f && out.push(i));
  return out;
}

/** The k units with the highest scores (ties: lower index first), sorted. Non-finite scores never win. */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i).filter((i) => Number.isFinite(scores[i]));
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return order.slice(0, Math.max(0, Math.floor(k))).sort((a, b) => a - b);
}

/**
 * The token a heatmap should start on: the first trigger word of a memorized entry in the prompt,
 * else the first word, else <bos> (position 0).
 */
export function defaultToken(manifest: Manifest, ids: readonly number[]): number {
  const vocab = manifest.text.vocab ?? [];
  const triggers = new Set(manifest.memorized.map((m) => vocab.indexOf(m.trigger)).filter((i) => i >= 0));
  const special = new Set([manifest.text.bosId, manifest.text.eosId, manifest.text.padId]);
  const trigger = ids.findIndex((id, p) => p > 0 && triggers.has(id));
  if (trigger > 0) return trigger;
  const first = ids.findIndex((id, p) => p > 0 && !special.has(id));
  return Math.max(first, 0);
}

/** The layer heatmaps open on: the first of the coarsest layers (where memorization sat in the feasibility run). */
export function defaultLayer(manifest: Manifest): number {
  const layers = manifest.unet.layers;
  let best = 0;
  layers.forEach((l, i) => {
    if (l.resolution < layers[best].resolution) best = i;
  });
  return best;
}
