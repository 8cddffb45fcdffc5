/**
 * The experiment slice: what the controls set and the URL mirrors (prompt, seed, steps, guidance,
 * the masks of the loaded model), and whether runs capture attention. Mask changes re-run at
 * once: masks are session inputs, so no reload is needed.
 */
import { MAX_SEED, emptyMasks, prunedCount, type PrunedUnits } from '../../core/experiment/experiment';
import { cleanMasks, sanitizePrompt, topK } from '../experiment-state';
import type { SliceCreator } from './slice';

export const LIMITS = {
  steps: { min: 1, max: 100 },
  guidance: { min: 0, max: 15 },
  seed: { min: 0, max: MAX_SEED },
  promptLength: 200,
} as const;

export type Preset = 'memorized' | 'neutral' | 'pruning';

export interface ExperimentData {
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  /** pruned units per mask input of the loaded model (the experiment's masks) */
  masks: PrunedUnits;
  /** ask the worker for cross-attention maps (for heatmap panels); off keeps runs lean */
  captureAttention: boolean;
}

export interface ExperimentActions {
  setPrompt(prompt: string): void;
  setSeed(seed: number): void;
  randomSeed(): void;
  setSteps(steps: number): void;
  setGuidance(guidance: number): void;
  setCaptureAttention(on: boolean): void;
  /** replace the pruned units of the listed masks and re-run (same seed, same session) */
  setMasks(masks: Partial<PrunedUnits>): void;
  /** prune the k highest-scoring units of one mask (replacing its pruned set) */
  pruneTopK(mask: string, k: number, scores: ArrayLike<number>): void;
  resetMasks(): void;
  applyPreset(preset: Preset): void;
}

export type ExperimentSlice = ExperimentData & ExperimentActions;

export const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
export const whole = (v: number, fallback: number) => (Number.isFinite(v) ? Math.round(v) : fallback);

/** Whether the loaded model can run now (a run in progress is superseded by the next one). */
export const canRun = (s: { status: string }) => s.status === 'ready' || s.status === 'generating';

export const MASK_LOCK_SCIENCE =
  'The pruning controls are locked while a science job runs, because the image cannot be made again until it ' +
  'ends. Cancel the job or wait for it to finish.';
export const MASK_LOCK_LOADING = 'The pruning controls unlock when the model is ready.';

/**
 * Why the masks cannot change now, or null when they can. A mask change re-runs the image at
 * once; where it cannot run (a science job holds the session, the model is not ready) the
 * controls are locked rather than the run queued: a queue would show, for the minutes a study
 * takes, a grid and a link whose mask the image does not have, and a job that ends by setting
 * the masks itself (a preset) would silently overwrite it.
 */
export function maskLock(s: { science: { running: unknown }; status: string }): string | null {
  if (s.science.running) return MASK_LOCK_SCIENCE;
  if (!canRun(s)) return MASK_LOCK_LOADING;
  return null;
}

/** True, with the reason told to the user, when the masks cannot change now. */
function refusedByLock(s: Parameters<typeof maskLock>[0] & { notify: (level: 'info', message: string) => void }) {
  const lock = maskLock(s);
  if (lock) s.notify('info', lock);
  return lock !== null;
}

export const createExperimentSlice: SliceCreator<ExperimentSlice> = () => (set, get) => ({
  prompt: '',
  seed: 7,
  steps: 25,
  guidance: 4,
  masks: {},
  captureAttention: true,

  setPrompt: (prompt) => set({ prompt: sanitizePrompt(prompt, LIMITS.promptLength) }),
  setSeed: (seed) => set({ seed: clamp(whole(seed, get().seed), LIMITS.seed.min, LIMITS.seed.max) }),
  randomSeed: () => set({ seed: Math.floor(Math.random() * LIMITS.seed.max) }),
  setSteps: (steps) => set({ steps: clamp(whole(steps, get().steps), LIMITS.steps.min, LIMITS.steps.max) }),
  setGuidance: (guidance) =>
    set({
      guidance: clamp(Number.isFinite(guidance) ? guidance : get().guidance, LIMITS.guidance.min, LIMITS.guidance.max),
    }),

  setCaptureAttention: (on) => set({ captureAttention: on }),

  setMasks(partial) {
    const s = get();
    if (!s.manifest) return;
    if (refusedByLock(s)) return;
    const merged: PrunedUnits = { ...s.masks };
    for (const [name, units] of Object.entries(partial)) if (units) merged[name] = units;
    set({ masks: cleanMasks(s.manifest, merged) });
    get().generate();
  },

  pruneTopK(mask, k, scores) {
    get().setMasks({ [mask]: topK(scores, k) });
  },

  resetMasks() {
    const s = get();
    if (!s.manifest || prunedCount(s.masks) === 0) return;
    if (refusedByLock(s)) return;
    set({ masks: emptyMasks(s.manifest) });
    get().generate();
  },

  applyPreset(preset) {
    const s = get();
    const m = s.manifest;
    if (!m) return;
    if (refusedByLock(s)) return;
    if (preset === 'pruning') {
      if (!s.pruningPreset) return;
      set({
        prompt: sanitizePrompt(s.pruningPreset.prompt, LIMITS.promptLength),
        masks: cleanMasks(m, s.pruningPreset.masks),
      });
    } else {
      const prompt = preset === 'memorized' ? (m.memorized[0]?.caption ?? '') : (m.neutralPrompts[0] ?? '');
      set({ prompt: sanitizePrompt(prompt, LIMITS.promptLength), masks: emptyMasks(m), seed: m.defaults.seed });
    }
    get().generate();
  },
});
