/**
 * The lab's single source of truth (zustand). Views read it; controls call its actions; actions
 * send worker requests; worker events come back through applyEvent / applyAnalysis. Nothing else
 * holds state. The experiment (prompt, seed, steps, guidance, masks of the loaded model) is the
 * part the URL mirrors (url-sync.ts).
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import { MAX_SEED, emptyMasks, prunedCount, type PrunedUnits } from '../core/experiment/experiment';
import type { Manifest } from '../core/manifest';
import type { BackendChoice, BackendPreference } from '../gpu/backend';
import type { AnalysisEvent, AnalysisRequest } from '../workers/analysis-protocol';
import type { GenerateParams, RgbaImage, WorkerEvent, WorkerRequest } from '../workers/protocol';
import {
  gridKey,
  mapFocus,
  type Focus,
  type HeadHover,
  type Maps,
  type PruningPreset,
  type Scores,
  type SeedGrid,
  type UnitScores,
} from './analysis-state';
import { reduceEvent } from './events';
import { cleanMasks, defaultToken, experimentOf, sanitizePrompt, topK, variantsFor } from './experiment-state';
import { encodeExperimentForAnyModel } from '../core/experiment/url-codec';
import { familyOf, parseModelIndex, pickModel, type ModelEntry } from './model-index';
import { type AblationUnits, defaultSparsity } from '../core/science';
import { emptyScience, sideEffectsOf, universalMasks, type ScienceData } from './science-state';
import {
  defaultScienceParams,
  type DefaultJob,
  type ModelRef,
  type ScienceRequest,
  variantTableParams,
} from '../workers/science';

export type Status = 'starting' | 'loading' | 'ready' | 'generating' | 'failed';

export interface Progress {
  phase: 'manifest' | 'download' | 'session' | 'denoise';
  label: string;
  loaded: number;
  total: number;
  fromCache: boolean;
}

export type NoticeAction = 'retry-load' | 'retry-generate' | 'reload-page';

export interface Notice {
  id: number;
  level: 'error' | 'warning' | 'info';
  message: string;
  action?: NoticeAction;
}

export interface StepPreview {
  step: number;
  of: number;
  timestep: number;
  /** the experiment's image (the pruned variant when anything is pruned) */
  image: RgbaImage;
  /** the unpruned image at the same step, when the run has both */
  baseline?: RgbaImage;
  noiseGap: number;
}

export interface VariantImage {
  image: RgbaImage;
  raw: Float32Array;
  noiseGaps: number[];
}

export interface Generation {
  /** the generate request's id; analysis results name it */
  id: number;
  params: GenerateParams;
  /** the pruned units this run used */
  masks: PrunedUnits;
  /** the experiment's image: the pruned one when anything was pruned */
  image: RgbaImage;
  raw: Float32Array;
  noiseGaps: number[];
  /** the unpruned image from the same batch and seed, when anything was pruned */
  baseline: VariantImage | null;
  tokenIds: number[];
  unknownWords: string[];
  tokenWords: string[];
  truncated: boolean;
  totalMs: number;
  meanStepMs: number;
  /** attention was captured (it went to the analysis worker, not the store) */
  hasAttention: boolean;
}

export interface LabData {
  models: ModelEntry[];
  model: ModelEntry | null;
  manifest: Manifest | null;
  backendPreference: BackendPreference;
  backend: BackendChoice | null;
  /** per model file: whether the last load read it from the Cache API */
  files: { path: string; bytes: number; fromCache: boolean }[];
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  /** pruned units per mask input of the loaded model (the experiment's masks) */
  masks: PrunedUnits;
  /** a link to decode when the next model is ready; autoRun generates once it is applied */
  link: { query: string; autoRun: boolean } | null;
  /** the loaded model's experiment has been set (from a link or defaults): the URL may be written */
  experimentReady: boolean;
  /** ask the worker for cross-attention maps (for heatmap panels); off keeps runs lean */
  captureAttention: boolean;
  status: Status;
  progress: Progress | null;
  previews: StepPreview[];
  result: Generation | null;
  notices: Notice[];
  /** ids of the requests whose events are still wanted; events for other ids are stale */
  loadId: number | null;
  generateId: number | null;
  pendingParams: GenerateParams | null;
  pendingMasks: PrunedUnits | null;
  /** the analysis worker has the training images (replication scores work) */
  analysisReady: boolean;
  scores: Scores | null;
  focus: Focus;
  hoverHead: HeadHover | null;
  maps: Maps | null;
  /** attribution scores from the science work; null: the grid shows attention mass */
  unitScores: UnitScores | null;
  /** a pruning that removes the memorization, once the science work provides one */
  pruningPreset: PruningPreset | null;
  seedGrid: SeedGrid | null;
  /** science jobs in the inference worker: the running one and the latest results */
  science: ScienceData;
}

export type Preset = 'memorized' | 'neutral' | 'pruning';

export interface LabActions {
  init(): Promise<void>;
  loadModel(): void;
  selectModel(id: string): void;
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
  generate(): void;
  cancel(): void;
  setFocus(focus: Partial<Focus>): void;
  setHoverHead(head: HeadHover | null): void;
  setUnitScores(scores: UnitScores | null): void;
  setPruningPreset(preset: PruningPreset | null): void;
  runSeedGrid(count: number): void;
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
  applyEvent(event: WorkerEvent): void;
  applyAnalysis(event: AnalysisEvent): void;
  workerCrashed(message: string, reloading: boolean): void;
  notify(level: Notice['level'], message: string, action?: NoticeAction): void;
  dismiss(id: number): void;
  runAction(notice: Notice): void;
}

export type LabState = LabData & LabActions;
export type LabStore = StoreApi<LabState>;

export interface LabDeps {
  send(request: WorkerRequest): void;
  /** to the analysis worker; buffers in the request are transferred */
  analyze(request: AnalysisRequest): void;
  fetchJson(url: string): Promise<unknown>;
  /** the page URL; model paths resolve against it */
  pageUrl: string;
  backendPreference: BackendPreference;
  requestedModel: string | null;
  /** the page's query: the experiment link to open (decoded once the model is loaded) */
  initialLink?: string;
  /** whether that link names an experiment (then it is generated as soon as it is applied) */
  initialLinkRuns?: boolean;
  reloadPage(): void;
}

export const LIMITS = {
  steps: { min: 1, max: 100 },
  guidance: { min: 0, max: 15 },
  seed: { min: 0, max: MAX_SEED },
  promptLength: 200,
} as const;

/** Seeds in the on-demand grid. */
export const SEED_GRID_SIZE = 4;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const whole = (v: number, fallback: number) => (Number.isFinite(v) ? Math.round(v) : fallback);

export function createLabStore(deps: LabDeps): LabStore {
  let nextId = 1;
  let nextNotice = 1;
  // Analysis bookkeeping that views never read: which replies are still wanted.
  let mapsRequest: number | null = null;
  let mapsQueued = false;
  const gridReplies = new Map<number, { key: string; cell: number }>();

  return createStore<LabState>()((set, get) => {
    /** Ask the analysis worker for the focused maps; one request in flight, the latest focus queued. */
    function requestMaps(): void {
      const s = get();
      const r = s.result;
      if (!r?.hasAttention || s.focus.token === null) return;
      if (mapsRequest !== null) {
        mapsQueued = true;
        return;
      }
      const id = nextId++;
      mapsRequest = id;
      deps.analyze({
        type: 'maps',
        id,
        generation: r.id,
        focus: mapFocus(s.focus, s.focus.token, r.baseline ? 2 : 1, s.hoverHead),
      });
    }

    function gridKeyOf(s: LabData): string {
      return gridKey({
        model: s.manifest?.id ?? '',
        prompt: s.prompt,
        steps: s.steps,
        guidance: s.guidance,
        masks: s.masks,
      });
    }

    function startGridCell(): void {
      const s = get();
      const grid = s.seedGrid;
      if (!grid || !s.manifest) return;
      const next = grid.cells.findIndex((c) => c.images === null);
      if (next < 0) {
        set({ seedGrid: { ...grid, runningId: null, status: 'done' } });
        return;
      }
      const id = nextId++;
      set({ seedGrid: { ...grid, runningId: id, status: 'running' } });
      const params: GenerateParams = {
        prompt: s.prompt.trim(),
        seed: grid.cells[next].seed,
        steps: s.steps,
        guidance: s.guidance,
        captureAttention: false,
      };
      deps.send({ type: 'generate', id, params, variants: variantsFor(s.manifest, s.masks) });
    }

    /** A worker event for the running seed-grid cell; true when it was one. */
    function gridEvent(event: WorkerEvent): boolean {
      const grid = get().seedGrid;
      if (!grid || grid.runningId === null || !('id' in event) || event.id !== grid.runningId) return false;
      if (event.type === 'result') {
        const cell = grid.cells.findIndex((c) => c.images === null);
        const cells = grid.cells.map((c, i) => (i === cell ? { ...c, images: event.images } : c));
        set({ seedGrid: { ...grid, cells } });
        const id = nextId++;
        gridReplies.set(id, { key: grid.key, cell });
        const variants = event.raw.map((raw, v) => ({ raw, noiseGaps: event.noiseGaps.map((g) => g[v]) }));
        deps.analyze({ type: 'replicate', id, variants });
        startGridCell();
      } else if (event.type === 'error') {
        set({ seedGrid: { ...grid, runningId: null, status: 'stopped' } });
      }
      return true;
    }

    /** A worker event for the running science job; true when it was one. */
    /** The directory URL of a listed model (as the worker loads it). */
    function refOf(m: ModelEntry): ModelRef {
      return { id: m.id, url: modelUrlOf({ ...get(), model: m }, deps) };
    }

    /** Sends a science job unless the model is not ready or another job runs. */
    function startScience(request: ScienceRequest): void {
      const s = get();
      if (!s.manifest || (s.status !== 'ready' && s.status !== 'generating')) return;
      if (s.science.running) {
        s.notify('info', 'Another science job is running: cancel it first.');
        return;
      }
      const id = nextId++;
      set({
        science: { ...s.science, running: { id, job: request.job, stage: 'waiting for the model', done: 0, total: 1 } },
      });
      deps.send({ type: 'science', id, ...request } as { type: 'science'; id: number } & ScienceRequest);
    }

    function scienceEvent(event: WorkerEvent): boolean {
      const sc = get().science;
      const run = sc.running;
      if (
        event.type !== 'science-progress' &&
        event.type !== 'science-result' &&
        !(event.type === 'error' && event.request === 'science')
      )
        return false;
      if (!run || event.id !== run.id) return true; // a job of a previous model or session
      if (event.type === 'science-progress') {
        set({ science: { ...sc, running: { ...run, stage: event.stage, done: event.done, total: event.total } } });
      } else if (event.type === 'science-result') {
        const m = get().manifest;
        const { outcome } = event;
        set({
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
          set({ masks: cleanMasks(m, outcome.result.masks) });
          if (get().status === 'ready' || get().status === 'generating') get().generate();
        }
      } else {
        set({ science: { ...sc, running: null } });
        get().notify(event.kind === 'cancelled' ? 'info' : 'error', event.message);
      }
      return true;
    }

    return {
      models: [],
      model: null,
      manifest: null,
      backendPreference: deps.backendPreference,
      backend: null,
      files: [],
      prompt: '',
      seed: 7,
      steps: 25,
      guidance: 4,
      masks: {},
      link: { query: deps.initialLink ?? '', autoRun: deps.initialLinkRuns ?? false },
      experimentReady: false,
      captureAttention: true,
      status: 'starting',
      progress: null,
      previews: [],
      result: null,
      notices: [],
      loadId: null,
      generateId: null,
      pendingParams: null,
      pendingMasks: null,
      analysisReady: false,
      scores: null,
      focus: { token: null, layer: 0, head: 'mean', step: 'all', variant: 'pruned' },
      hoverHead: null,
      maps: null,
      unitScores: null,
      pruningPreset: null,
      seedGrid: null,
      science: emptyScience(),

      async init() {
        const url = new URL('models/index.json', deps.pageUrl).href;
        try {
          const parsed = parseModelIndex(await deps.fetchJson(url));
          if (!parsed.ok) throw new Error(`models/index.json is invalid: ${parsed.problem}`);
          const model = pickModel(parsed.index, deps.requestedModel);
          if (deps.requestedModel && model.id !== deps.requestedModel) {
            get().notify('warning', `There is no model "${deps.requestedModel}"; opened "${model.label}" instead.`);
          }
          set({ models: parsed.index.models, model });
          get().loadModel();
        } catch (err) {
          set({ status: 'failed' });
          get().notify(
            'error',
            `Could not read the model list: ${err instanceof Error ? err.message : String(err)}`,
            'reload-page',
          );
        }
      },

      loadModel() {
        const { model, backendPreference } = get();
        if (!model) return;
        const id = nextId++;
        const modelUrl = modelUrlOf(get(), deps);
        set({ status: 'loading', loadId: id, generateId: null, progress: null, manifest: null, analysisReady: false });
        deps.send({ type: 'load', id, modelUrl, backend: backendPreference });
      },

      selectModel(id) {
        const s = get();
        const model = s.models.find((m) => m.id === id);
        if (!model || model.id === s.model?.id) return;
        // A new model has its own masks and defaults: its default experiment applies when it is
        // ready. Within a family (the base and its unlearned variants: one interface) the
        // experiment carries over, so the same prompt, seed and mask run on the other model.
        const carried = s.model && familyOf(s.models, s.model).some((m) => m.id === id) ? carryExperiment(s) : '';
        set({
          model,
          link: { query: carried, autoRun: carried !== '' },
          experimentReady: false,
          masks: {},
          result: null,
          previews: [],
          scores: null,
          maps: null,
          seedGrid: null,
          unitScores: null,
          pruningPreset: null,
          science: { ...emptyScience(), running: s.science.running },
        });
        get().loadModel();
      },

      setPrompt: (prompt) => set({ prompt: sanitizePrompt(prompt, LIMITS.promptLength) }),
      setSeed: (seed) => set({ seed: clamp(whole(seed, get().seed), LIMITS.seed.min, LIMITS.seed.max) }),
      randomSeed: () => set({ seed: Math.floor(Math.random() * LIMITS.seed.max) }),
      setSteps: (steps) => set({ steps: clamp(whole(steps, get().steps), LIMITS.steps.min, LIMITS.steps.max) }),
      setGuidance: (guidance) =>
        set({
          guidance: clamp(
            Number.isFinite(guidance) ? guidance : get().guidance,
            LIMITS.guidance.min,
            LIMITS.guidance.max,
          ),
        }),

      setCaptureAttention: (on) => set({ captureAttention: on }),

      setMasks(partial) {
        const s = get();
        if (!s.manifest) return;
        const merged: PrunedUnits = { ...s.masks };
        for (const [name, units] of Object.entries(partial)) if (units) merged[name] = units;
        set({ masks: cleanMasks(s.manifest, merged) });
        // Masks are session inputs: a re-run needs no reload, so every change runs at once.
        if (get().status === 'ready' || get().status === 'generating') get().generate();
      },

      pruneTopK(mask, k, scores) {
        get().setMasks({ [mask]: topK(scores, k) });
      },

      resetMasks() {
        const s = get();
        if (!s.manifest || prunedCount(s.masks) === 0) return;
        set({ masks: emptyMasks(s.manifest) });
        if (s.status === 'ready' || s.status === 'generating') get().generate();
      },

      applyPreset(preset) {
        const s = get();
        const m = s.manifest;
        if (!m) return;
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

      generate() {
        const s = get();
        if (!s.manifest || (s.status !== 'ready' && s.status !== 'generating')) {
          s.notify('info', 'The model is still loading; Generate becomes available when it is ready.');
          return;
        }
        // The worker would refuse it too: one session, one computation at a time.
        if (s.science.running) {
          s.notify('info', 'A science job is running: cancel it or wait for it to finish, then generate again.');
          return;
        }
        const params: GenerateParams = {
          prompt: s.prompt.trim(),
          seed: s.seed,
          steps: s.steps,
          guidance: s.guidance,
          captureAttention: s.captureAttention,
        };
        const id = nextId++;
        const grid = s.seedGrid;
        // A running generate (or seed-grid cell) is superseded by the worker at its next step boundary.
        set({
          status: 'generating',
          generateId: id,
          pendingParams: params,
          pendingMasks: s.masks,
          previews: [],
          progress: { phase: 'denoise', label: 'Denoising', loaded: 0, total: params.steps, fromCache: false },
          // A new run makes the last run's failure and info notes obsolete.
          notices: s.notices.filter((n) => n.action !== 'retry-generate' && n.level !== 'info'),
          ...(grid && grid.status === 'running'
            ? { seedGrid: { ...grid, runningId: null, status: 'stopped' as const } }
            : {}),
        });
        deps.send({ type: 'generate', id, params, variants: variantsFor(s.manifest, s.masks) });
      },

      cancel() {
        const { generateId } = get();
        if (generateId === null) return;
        deps.send({ type: 'cancel', id: generateId });
      },

      setFocus(focus) {
        set({ focus: { ...get().focus, ...focus } });
        requestMaps();
      },

      setHoverHead(head) {
        const prev = get().hoverHead;
        if (prev === head || (prev && head && prev.layer === head.layer && prev.head === head.head)) return;
        set({ hoverHead: head });
        requestMaps();
      },

      setUnitScores: (unitScores) => set({ unitScores }),
      setPruningPreset: (pruningPreset) => set({ pruningPreset }),

      runSeedGrid(count) {
        const s = get();
        if (!s.manifest || s.status !== 'ready') return;
        const n = clamp(whole(count, SEED_GRID_SIZE), 1, 16);
        const cells = Array.from({ length: n }, (_, i) => ({
          seed: (s.seed + i) % (MAX_SEED + 1),
          images: null,
          scores: null,
        }));
        set({ seedGrid: { key: gridKeyOf(s), cells, runningId: null, status: 'running' } });
        startGridCell();
      },

      runScience(job) {
        const s = get();
        if (!s.manifest) return;
        startScience({
          job,
          params: defaultScienceParams(s.manifest, s.prompt.trim(), s.science.unitKind)[job],
        } as ScienceRequest);
      },

      applyShippedPreset(id) {
        startScience({ job: 'preset', params: { id } });
      },

      compareVariants() {
        const s = get();
        if (!s.model) return;
        const models = familyOf(s.models, s.model).map((m) => refOf(m));
        startScience({
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
        startScience({
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

      applyEvent(event) {
        if (gridEvent(event)) return;
        if (scienceEvent(event)) return;
        const before = get();
        const patch = reduceEvent(before, event);
        if (!patch) return;
        const { notice, run, ...rest } = patch;
        set(rest);
        if (notice) get().notify(notice.level, notice.message, notice.action);

        if (event.type === 'ready' && event.id === before.loadId) {
          deps.analyze({ type: 'init', id: nextId++, modelUrl: modelUrlOf(before, deps), manifest: event.manifest });
          if (run) get().generate();
        }
        if (event.type === 'result' && rest.result) {
          const r = rest.result;
          const m = get().manifest;
          // Toggling masks keeps the token the user chose; a new prompt starts on its trigger word.
          const sameTokens = before.result !== null && before.result.tokenIds.join() === r.tokenIds.join();
          const token =
            sameTokens && before.focus.token !== null ? before.focus.token : m ? defaultToken(m, r.tokenIds) : 0;
          set({ focus: { ...get().focus, token }, scores: null });
          const variants = r.baseline ? [r.baseline, r] : [r];
          deps.analyze({
            type: 'generation',
            id: nextId++,
            generation: r.id,
            // Copies: the store keeps its own images; attention is handed over, not kept here.
            variants: variants.map((v) => ({ raw: v.raw.slice(), noiseGaps: v.noiseGaps.slice() })),
            ...(event.attention ? { attention: event.attention } : {}),
          });
          if (r.hasAttention) requestMaps();
          else set({ maps: null });
        }
      },

      applyAnalysis(event) {
        switch (event.type) {
          case 'ready':
            set({ analysisReady: true });
            return;
          case 'scores':
            if (event.generation === get().result?.id)
              set({ scores: { generation: event.generation, variants: event.variants } });
            return;
          case 'maps': {
            if (event.id !== mapsRequest) return;
            mapsRequest = null;
            if (event.generation === get().result?.id) {
              const { type: _t, id: _i, ...maps } = event;
              set({ maps });
            }
            if (mapsQueued) {
              mapsQueued = false;
              requestMaps();
            }
            return;
          }
          case 'replication': {
            const reply = gridReplies.get(event.id);
            gridReplies.delete(event.id);
            const grid = get().seedGrid;
            if (!reply || !grid || grid.key !== reply.key) return;
            const cells = grid.cells.map((c, i) => (i === reply.cell ? { ...c, scores: event.variants } : c));
            set({ seedGrid: { ...grid, cells } });
            return;
          }
          case 'error':
            if (event.request === 'maps' && event.id === mapsRequest) {
              mapsRequest = null;
              if (mapsQueued) {
                mapsQueued = false;
                requestMaps();
              }
              return;
            }
            if (event.request === 'init') {
              get().notify(
                'warning',
                `Training images could not be loaded, so similarity to them is not shown: ${event.message}`,
              );
              return;
            }
            get().notify('warning', `Analysis failed: ${event.message}`);
            return;
        }
      },

      workerCrashed(message, reloading) {
        set({
          science: { ...get().science, running: null },
          status: reloading ? 'loading' : 'failed',
          generateId: null,
          progress: null,
          manifest: reloading ? get().manifest : null,
        });
        get().notify(
          'error',
          reloading ? `${message} It was restarted and the model is being loaded again.` : message,
          reloading ? undefined : 'reload-page',
        );
      },

      notify(level, message, action) {
        const notice: Notice = { id: nextNotice++, level, message, ...(action ? { action } : {}) };
        // The same message twice in a row is noise; keep the list short and newest last.
        const others = get().notices.filter((n) => n.message !== message);
        set({ notices: [...others, notice].slice(-4) });
      },

      dismiss: (id) => set({ notices: get().notices.filter((n) => n.id !== id) }),

      runAction(notice) {
        get().dismiss(notice.id);
        if (notice.action === 'retry-load') get().loadModel();
        else if (notice.action === 'retry-generate') get().generate();
        else if (notice.action === 'reload-page') deps.reloadPage();
      },
    };
  });
}

/** The model directory URL the store loads from (for the analysis worker's files). */
/** The current experiment as a link for any model of the family ('' when there is none to carry). */
function carryExperiment(s: LabData): string {
  const e = experimentOf(s);
  if (!e || !s.manifest) return '';
  try {
    return encodeExperimentForAnyModel(e, s.manifest);
  } catch {
    return ''; // an experiment the codec refuses (it cannot happen through the controls) starts fresh
  }
}

function modelUrlOf(s: LabData, deps: Pick<LabDeps, 'pageUrl'>): string {
  const path = s.model?.path ?? '';
  return new URL(`models/${path.replace(/\/?$/, '/')}`, deps.pageUrl).href;
}
