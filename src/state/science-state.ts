/**
 * The store's view of the science jobs: which one runs (with its progress) and the latest result of
 * each job for the loaded model. What a result changes besides itself (head-grid scores, masks, the
 * "Universal mask" preset) is the job registry's (core/jobs/effects.ts).
 */
import type { JobClock, ScienceJob, ScienceResultMap } from '../core/jobs';
import { type AblationUnits, DEFAULT_UNIVERSAL, defaultSparsity } from '../core/science';

export interface ScienceRun {
  /** the inference request id (Cancel names it) */
  id: number;
  job: ScienceJob;
  stage: string;
  done: number;
  total: number;
  /** what the model call in progress is about (which unit, which prompts), when the job says */
  detail?: string;
  /** when it started and how fast its stage goes (elapsed time and the stage's ETA) */
  clock: JobClock;
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
