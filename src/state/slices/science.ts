/**
 * The science slice: the science job running in the inference worker (with its progress), the
 * latest result of each job for the loaded model, and the controls of the universal mask. Jobs
 * share the one model session with generations (see admission.ts).
 */
import { type AblationUnits, defaultSparsity } from '../../core/science';
import type { WorkerEvent } from '../../workers/protocol';
import {
  advanceClock,
  defaultRequest,
  type DefaultJob,
  type ModelRef,
  type ScienceRequest,
  sideEffectsOf,
  startClock,
  universalMasks,
  variantTableParams,
} from '../../core/jobs';
import { prunedCount } from '../../core/experiment/experiment';
import { cleanMasks, sanitizePrompt } from '../experiment-state';
import { familyOf, type ModelEntry } from '../model-index';
import { emptyScience, type ScienceData } from '../science-state';
import { admission } from './admission';
import { canRun, clamp, LIMITS } from './experiment';
import { modelUrlOf } from './paths';
import { readReferenceFiles, studySelectionOf } from './prompt-sets';
import type { LabDeps } from '../store';
import { type LabContext, type SliceCreator, takeRequestId } from './slice';

export interface ScienceSliceData {
  /** science jobs in the inference worker: the running one and the latest results */
  science: ScienceData;
}

export interface ScienceActions {
  /** run a science job with the model's default params (detect and nemo: on the current prompt) */
  runScience(job: DefaultJob): void;
  /** load a mask preset the model ships (UniForget) and apply it as the experiment's masks */
  applyShippedPreset(id: string): void;
  /** the prompt, seed and masks on the base and every unlearning variant, side by side */
  compareVariants(): void;
  /** the evaluation across the base and its variants (no mask, shipped presets, the lab's mask) */
  runVariantTable(): void;
  cancelScience(): void;
  setSparsity(sparsity: number): void;
  /** what the universal mask prunes; resets the slider to that kind's default */
  setUnitKind(kind: AblationUnits): void;
  /** set the value-neuron mask to NeMo's neurons for its prompt (and that prompt) and re-run */
  applyNemoMask(): void;
  /** set the universal mask (heads or value neurons) at the slider's sparsity and re-run */
  applyUniversalMask(): void;
}

export type ScienceSlice = ScienceSliceData & ScienceActions;

/** The store's clock (ms): the deps' when given (tests), else the page's. */
export const nowOf = (deps: Pick<LabDeps, 'now'>): number => (deps.now ? deps.now() : performance.now());

/** Sends a science job unless the model is not ready or the session is taken by another job. */
function startScience(ctx: LabContext, request: ScienceRequest): void {
  const s = ctx.get();
  if (!s.manifest || !canRun(s)) return;
  const admitted = admission(s, 'science');
  if (admitted.action === 'refuse') {
    s.notify('info', admitted.message);
    return;
  }
  const id = takeRequestId(ctx);
  ctx.set({
    science: {
      ...s.science,
      running: {
        id,
        job: request.job,
        stage: 'waiting for the model',
        done: 0,
        total: 1,
        clock: startClock(nowOf(ctx.deps)),
      },
    },
  });
  ctx.deps.send({ type: 'science', id, ...request });
}

/** An inference event of a science job; true when it was one. */
export function scienceEvent(ctx: LabContext, event: WorkerEvent): boolean {
  if (
    event.type !== 'science-progress' &&
    event.type !== 'science-result' &&
    !(event.type === 'error' && event.request === 'science')
  )
    return false;
  const sc = ctx.get().science;
  const run = sc.running;
  if (!run || event.id !== run.id) return true; // a job of a previous model or session
  if (event.type === 'science-progress') {
    const { stage, done, total, detail } = event;
    ctx.set({
      science: {
        ...sc,
        running: { ...run, stage, done, total, detail, clock: advanceClock(run.clock, event, nowOf(ctx.deps)) },
      },
    });
  } else if (event.type === 'science-result') {
    const m = ctx.get().manifest;
    const { outcome } = event;
    ctx.set({
      science: {
        ...sc,
        running: null,
        results: { ...sc.results, [outcome.job]: outcome.result },
        meta: { ...sc.meta, [outcome.job]: { cached: event.cached, ms: event.ms } },
      },
      ...(m ? sideEffectsOf(m, outcome) : {}),
    });
    if (outcome.job === 'preset' && m) {
      // a shipped preset replaces the experiment's masks (it names every unit it prunes)
      ctx.set({ masks: cleanMasks(m, outcome.result.masks) });
      if (canRun(ctx.get())) ctx.get().generate();
    }
  } else {
    ctx.set({ science: { ...sc, running: null } });
    ctx.get().notify(event.kind === 'cancelled' ? 'info' : 'error', event.message, undefined, { detail: event.detail });
  }
  return true;
}

export const createScienceSlice: SliceCreator<ScienceSlice> = (deps) => (set, get) => {
  const ctx: LabContext = { set, get, deps };
  /** A listed model as the worker loads it. */
  const refOf = (m: ModelEntry): ModelRef => ({ id: m.id, url: modelUrlOf({ model: m }, deps) });

  return {
    science: emptyScience(),

    runScience(job) {
      const s = get();
      if (!s.manifest) return;
      const { promptSets } = studySelectionOf(s);
      const request = defaultRequest(job, s.manifest, {
        prompt: s.prompt.trim(),
        units: s.science.unitKind,
        ...(promptSets ? { promptSets } : {}),
      });
      // The evaluation takes the held reference images along, read afresh (they are transferred).
      if (request.job === 'evaluate' && s.promptSets.references.length > 0) {
        void readReferenceFiles(s)
          .catch(() => null)
          .then((references) =>
            startScience(ctx, references ? { ...request, params: { ...request.params, references } } : request),
          );
        return;
      }
      startScience(ctx, request);
    },

    applyShippedPreset(id) {
      startScience(ctx, { job: 'preset', params: { id } });
    },

    compareVariants() {
      const s = get();
      if (!s.model) return;
      const models = familyOf(s.models, s.model).map((m) => refOf(m));
      startScience(ctx, {
        job: 'variants',
        params: {
          models,
          prompt: s.prompt.trim(),
          seed: s.seed,
          steps: s.steps,
          guidance: s.guidance,
          masks: s.masks,
        },
      });
    },

    runVariantTable() {
      const s = get();
      if (!s.model || !s.manifest) return;
      const [base, ...variants] = familyOf(s.models, s.model);
      if (!base) return;
      const masks =
        prunedCount(s.masks) > 0
          ? [{ id: 'lab-mask', label: `the lab's mask (${prunedCount(s.masks)} units)`, units: s.masks }]
          : [];
      startScience(ctx, {
        job: 'variant-table',
        params: variantTableParams(s.manifest, refOf(base), variants.map(refOf), masks),
      });
    },

    cancelScience() {
      const run = get().science.running;
      if (run) deps.send({ type: 'cancel', id: run.id });
    },

    setSparsity: (sparsity) =>
      set({ science: { ...get().science, sparsity: clamp(Number.isFinite(sparsity) ? sparsity : 0, 0, 1) } }),

    setUnitKind(unitKind) {
      const science = get().science;
      if (unitKind === science.unitKind) return;
      // a universal result of the other kind would no longer match the select: drop it
      const { universal: _dropped, ...results } = science.results;
      set({ science: { ...science, unitKind, sparsity: defaultSparsity(unitKind), results } });
    },

    applyNemoMask() {
      const s = get();
      const nemo = s.science.results.nemo;
      if (!nemo) return;
      set({ prompt: sanitizePrompt(nemo.prompt, LIMITS.promptLength) });
      get().setMasks({ [nemo.mask]: nemo.search.refined });
    },

    applyUniversalMask() {
      const s = get();
      const u = s.science.results.universal;
      if (u) get().setMasks(universalMasks(u, s.science.sparsity));
    },
  };
};
