/**
 * The session slice: which models exist, which one is loaded (manifest, backend, files) and how
 * far loading is; the link waiting to be applied to the next loaded model.
 */
import type { Manifest } from '../../core/manifest';
import type { BackendChoice, BackendPreference } from '../../gpu/backend';
import type { FolderSource } from '../../workers/protocol';
import { type FolderLink, folderLinkOf, hostOf } from '../folder-link';
import { familyOf, parseModelIndex, pickModel, type ModelEntry } from '../model-index';
import { emptyScience } from '../science-state';
import { carryExperiment, modelUrlOf } from './paths';
import type { LabState } from '../store';
import { type SliceCreator, takeRequestId } from './slice';

export type Status = 'starting' | 'loading' | 'ready' | 'generating' | 'failed';

export interface Progress {
  phase: 'manifest' | 'download' | 'session' | 'denoise';
  label: string;
  loaded: number;
  total: number;
  fromCache: boolean;
}

export interface SessionData {
  models: ModelEntry[];
  model: ModelEntry | null;
  manifest: Manifest | null;
  backendPreference: BackendPreference;
  backend: BackendChoice | null;
  /** per model file: whether the last load read it from the Cache API */
  files: { path: string; bytes: number; fromCache: boolean }[];
  /** a link to decode when the next model is ready; autoRun generates once it is applied */
  link: { query: string; autoRun: boolean } | null;
  /** the loaded model's experiment has been set (from a link or defaults): the URL may be written */
  experimentReady: boolean;
  status: Status;
  progress: Progress | null;
  /** the load request whose events are still wanted; events for other ids are stale */
  loadId: number | null;
  /** the inference worker was lost and its model is being loaded again; `lost`: what was running then */
  recovering: { lost: 'run' | 'science' | null } | null;
  /** the model is being loaded again on another backend: generate the kept experiment once it is ready */
  rerunOnReady: boolean;
  /** the id the next worker request takes */
  nextRequestId: number;
  /** a link made with a model the user brought, waiting for that model (folder-link.ts) */
  folderLink: FolderLink | null;
  /** why the last load failed (the load dialog shows it): a sentence, the technical detail, whether a retry can help */
  loadError: { message: string; detail?: string; retry: boolean } | null;
}

export interface SessionActions {
  init(): Promise<void>;
  loadModel(): void;
  selectModel(id: string): void;
  /** load a Stable-Diffusion-family model from a diffusers ONNX folder (picked files or a base URL) */
  loadFolder(source: FolderSource, label: string): void;
  /**
   * Run the model on another backend: the same model is loaded again there, the experiment and
   * the image stay, and the image is made again on the new backend once it is ready.
   */
  setBackendPreference(preference: BackendPreference): void;
}

export type SessionSlice = SessionData & SessionActions;

export const BACKEND_LOCKED =
  'A science job is running: the backend can be changed when it has finished or is cancelled.';

/** What a newly chosen model starts without: the last model's masks, results, maps and science. */
function nothingOfThePreviousModel(s: LabState): Partial<LabState> {
  return {
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
  };
}

export const createSessionSlice: SliceCreator<SessionSlice> = (deps) => (set, get) => {
  /** Ask the worker for the model; `keep`: the same model again, its manifest and experiment kept. */
  function sendLoad(keep: boolean, rerun = false) {
    const { model, backendPreference } = get();
    if (!model) return;
    const id = takeRequestId({ set, get });
    const modelUrl = modelUrlOf(get(), deps);
    set({
      status: 'loading',
      loadId: id,
      generateId: null,
      pendingParams: null,
      pendingMasks: null,
      progress: null,
      backend: null,
      rerunOnReady: rerun,
      analysisReady: false,
      loadError: null,
      ...(keep ? {} : { manifest: null }),
    });
    const source = model.source;
    deps.send({
      type: 'load',
      id,
      modelUrl,
      backend: backendPreference,
      ...(source ? { source } : {}),
      ...(deps.measureSoftwareGpu ? { measureSoftwareGpu: true } : {}),
    });
  }

  return {
    models: [],
    model: null,
    manifest: null,
    backendPreference: deps.backendPreference,
    backend: null,
    files: [],
    link: { query: deps.initialLink ?? '', autoRun: deps.initialLinkRuns ?? false },
    experimentReady: false,
    status: 'starting',
    progress: null,
    loadId: null,
    recovering: null,
    rerunOnReady: false,
    nextRequestId: 1,
    folderLink: null,
    loadError: null,

    async init() {
      const url = new URL('models/index.json', deps.pageUrl).href;
      try {
        const parsed = parseModelIndex(await deps.fetchJson(url));
        if (!parsed.ok) throw new Error(`${url} is invalid: ${parsed.problem}`);
        const folderLink = folderLinkOf(deps.initialLink ?? '');
        const model = pickModel(parsed.index, folderLink ? null : deps.requestedModel);
        if (folderLink) {
          // The lab opens on its own model meanwhile; the link applies once its model is loaded.
          set({ folderLink, link: null });
          if (folderLink.baseUrl) {
            get().notify(
              'warning',
              `This link uses a Stable Diffusion model served by ${hostOf(folderLink.baseUrl)}. The lab loads it only if you agree: it will download the model's files from there.`,
              'load-link-model',
            );
          } else {
            get().notify(
              'info',
              `This link was made with a model loaded from a folder on someone's computer (${folderLink.modelId}). To reproduce it, use "Load a model" and pick the same folder.`,
            );
          }
        } else if (deps.requestedModel && model.id !== deps.requestedModel) {
          get().notify('warning', `There is no model "${deps.requestedModel}"; opened "${model.label}" instead.`);
        }
        set({ models: parsed.index.models, model });
        get().loadModel();
      } catch (err) {
        set({ status: 'failed' });
        // A reload helps when the network dropped; a broken list is the publisher's to fix.
        get().notify('error', 'The list of models could not be read, so no model can be opened.', 'reload-page', {
          detail: err instanceof Error ? err.message : String(err),
        });
      }
    },

    loadModel() {
      sendLoad(false);
    },

    setBackendPreference(preference) {
      const s = get();
      if (preference === s.backendPreference) return;
      if (s.science.running) {
        s.notify('info', BACKEND_LOCKED);
        return;
      }
      set({ backendPreference: preference });
      // Same model, same manifest: keep it (and the experiment and image) while the sessions move.
      if (s.model && s.manifest) sendLoad(true, s.result !== null || s.generateId !== null);
      else if (s.model) sendLoad(false);
    },

    loadFolder(source, label) {
      const s = get();
      // One folder model at a time: bringing another replaces the previous one in the list.
      const entry: ModelEntry = { id: 'folder', path: '', label, source };
      // A waiting link applies to the folder it was made with; decoding it refuses any other model.
      const waiting = s.folderLink;
      set({
        models: [...s.models.filter((m) => !m.source), entry],
        model: entry,
        link: waiting ? { query: waiting.query, autoRun: true } : { query: '', autoRun: false },
        folderLink: null,
        loadError: null,
        ...nothingOfThePreviousModel(s),
      });
      get().loadModel();
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
        ...nothingOfThePreviousModel(s),
      });
      get().loadModel();
    },
  };
};
