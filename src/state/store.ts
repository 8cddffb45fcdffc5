/**
 * The lab's single source of truth (zustand). Views read it; controls call its actions; actions
 * send worker requests; worker events come back through applyEvent. Nothing else holds state.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { Manifest } from '../core/manifest';
import type { BackendChoice, BackendPreference } from '../gpu/backend';
import type { GenerateParams, RgbaImage, WorkerEvent, WorkerRequest } from '../workers/protocol';
import { reduceEvent } from './events';
import { parseModelIndex, pickModel, type ModelEntry } from './model-index';

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
  image: RgbaImage;
  noiseGap: number;
}

export interface Generation {
  params: GenerateParams;
  image: RgbaImage;
  raw: Float32Array;
  noiseGaps: number[];
  unknownWords: string[];
  tokenWords: string[];
  truncated: boolean;
  totalMs: number;
  meanStepMs: number;
  attention?: Float32Array[][][];
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
}

export interface LabActions {
  init(): Promise<void>;
  loadModel(): void;
  setPrompt(prompt: string): void;
  setSeed(seed: number): void;
  randomSeed(): void;
  setSteps(steps: number): void;
  setGuidance(guidance: number): void;
  setCaptureAttention(on: boolean): void;
  generate(): void;
  cancel(): void;
  applyEvent(event: WorkerEvent): void;
  workerCrashed(message: string, reloading: boolean): void;
  notify(level: Notice['level'], message: string, action?: NoticeAction): void;
  dismiss(id: number): void;
  runAction(notice: Notice): void;
}

export type LabState = LabData & LabActions;
export type LabStore = StoreApi<LabState>;

export interface LabDeps {
  send(request: WorkerRequest): void;
  fetchJson(url: string): Promise<unknown>;
  /** the page URL; model paths resolve against it, and ?model= / ?backend= are read from it */
  pageUrl: string;
  backendPreference: BackendPreference;
  requestedModel: string | null;
  reloadPage(): void;
}

export const LIMITS = {
  steps: { min: 1, max: 100 },
  guidance: { min: 0, max: 15 },
  seed: { min: 0, max: 2 ** 31 - 1 },
  promptLength: 200,
} as const;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
const whole = (v: number, fallback: number) => (Number.isFinite(v) ? Math.round(v) : fallback);

export function createLabStore(deps: LabDeps): LabStore {
  let nextId = 1;
  let nextNotice = 1;

  return createStore<LabState>()((set, get) => ({
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
    captureAttention: false,
    status: 'starting',
    progress: null,
    previews: [],
    result: null,
    notices: [],
    loadId: null,
    generateId: null,
    pendingParams: null,

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
        get().notify('error', `Could not read the model list: ${err instanceof Error ? err.message : String(err)}`, 'reload-page');
      }
    },

    loadModel() {
      const { model, backendPreference } = get();
      if (!model) return;
      const id = nextId++;
      const modelUrl = new URL(`models/${model.path.replace(/\/?$/, '/')}`, deps.pageUrl).href;
      set({ status: 'loading', loadId: id, generateId: null, progress: null, manifest: null });
      deps.send({ type: 'load', id, modelUrl, backend: backendPreference });
    },

    setPrompt: (prompt) => set({ prompt: prompt.slice(0, LIMITS.promptLength) }),
    setSeed: (seed) => set({ seed: clamp(whole(seed, get().seed), LIMITS.seed.min, LIMITS.seed.max) }),
    randomSeed: () => set({ seed: Math.floor(Math.random() * LIMITS.seed.max) }),
    setSteps: (steps) => set({ steps: clamp(whole(steps, get().steps), LIMITS.steps.min, LIMITS.steps.max) }),
    setGuidance: (guidance) =>
      set({
        guidance: clamp(Number.isFinite(guidance) ? guidance : get().guidance, LIMITS.guidance.min, LIMITS.guidance.max),
      }),

    setCaptureAttention: (on) => set({ captureAttention: on }),

    generate() {
      const s = get();
      if (!s.manifest || (s.status !== 'ready' && s.status !== 'generating')) {
        s.notify('info', 'The model is still loading; Generate becomes available when it is ready.');
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
      // A running generate is superseded by the worker at its next step boundary.
      set({
        status: 'generating',
        generateId: id,
        pendingParams: params,
        previews: [],
        progress: { phase: 'denoise', label: 'Denoising', loaded: 0, total: params.steps, fromCache: false },
        // A new run makes the last run's failure and info notes obsolete.
        notices: s.notices.filter((n) => n.action !== 'retry-generate' && n.level !== 'info'),
      });
      deps.send({ type: 'generate', id, params });
    },

    cancel() {
      const { generateId } = get();
      if (generateId === null) return;
      deps.send({ type: 'cancel', id: generateId });
    },

    applyEvent(event) {
      const patch = reduceEvent(get(), event);
      if (!patch) return;
      const { notice, ...rest } = patch;
      set(rest);
      if (notice) get().notify(notice.level, notice.message, notice.action);
    },

    workerCrashed(message, reloading) {
      set({
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
  }));
}
