/**
 * The store's view of the analysis worker: its scores per generation, the heatmap payload for the
 * current focus, and the multi-seed grid. Types and pure helpers; the store wires them.
 */
import type { PrunedUnits } from '../core/experiment/experiment';
import type { AnalysisEvent, MapFocus, VariantScores } from '../workers/analysis-protocol';
import type { RgbaImage } from '../workers/protocol';

/** What the heatmaps are asked to show; `variant` names which image's attention. */
export interface Focus {
  /** token position; null until a result chooses one */
  token: number | null;
  layer: number;
  head: number | 'mean';
  step: number | 'all';
  variant: 'pruned' | 'baseline';
}

/** A head under the pointer or focus: the linked views follow it until it is left. */
export interface HeadHover {
  layer: number;
  head: number;
}

export interface Scores {
  generation: number;
  /** per variant of that generation: [baseline] or [baseline, pruned] */
  variants: VariantScores[];
}

/** The heatmap payload for one focus: the analysis worker's maps answer without its envelope. */
export type Maps = Omit<Extract<AnalysisEvent, { type: 'maps' }>, 'type' | 'id'>;

/**
 * Unit scores from elsewhere (the attribution job) colour the grid instead of attention mass; a
 * pruning preset is a named pruning a class can start from. Both come from the job registry.
 */
export type { PruningPreset, UnitScores } from '../core/jobs/effects';

export interface SeedGridCell {
  seed: number;
  /** per variant, like the main run */
  images: RgbaImage[] | null;
  scores: VariantScores[] | null;
}

export interface SeedGrid {
  /** the experiment the grid was made for, minus the seed (a changed experiment makes it stale) */
  key: string;
  cells: SeedGridCell[];
  /** the inference request id of the cell being generated */
  runningId: number | null;
  status: 'running' | 'done' | 'stopped';
}

/** Heatmap focus for the worker: the variant as an index into the generation's variants. */
export function mapFocus(focus: Focus, token: number, variants: number, hover: HeadHover | null): MapFocus {
  return {
    variant: focus.variant === 'pruned' ? variants - 1 : 0,
    token,
    layer: hover ? hover.layer : focus.layer,
    head: hover ? hover.head : focus.head,
    step: focus.step,
  };
}

/** Identity of an experiment without its seed, for the seed grid. */
export function gridKey(e: {
  prompt: string;
  steps: number;
  guidance: number;
  masks: PrunedUnits;
  model: string;
}): string {
  return JSON.stringify([e.model, e.prompt.trim(), e.steps, e.guidance, e.masks]);
}

function sameValues(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) return false;
  return true;
}

/**
 * A maps answer with every array equal to the previous answer's replaced by that array, so views
 * that memoize on their input (the heatmaps encode an overlay image per map) redraw only what
 * changed: hovering a head changes the layer map, never the DAAM map.
 */
export function keepUnchangedMaps(previous: Maps | null, next: Maps): Maps {
  if (!previous) return next;
  const keep = (a: Float32Array, b: Float32Array) => (sameValues(a, b) ? a : b);
  return {
    ...next,
    daam: keep(previous.daam, next.daam),
    layerMap: keep(previous.layerMap, next.layerMap),
    headScores: keep(previous.headScores, next.headScores),
    tokenWeights: keep(previous.tokenWeights, next.tokenWeights),
  };
}
