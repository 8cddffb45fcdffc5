/**
 * The lab's single source of truth (zustand), made of slices, each the owner of one part of the
 * state and the actions that change it:
 *   session     models, the loaded model, loading progress, the pending link  (slices/session.ts)
 *   experiment  prompt, seed, steps, guidance, masks: what the URL mirrors      (slices/experiment.ts)
 *   generation  the run in progress and the latest result                      (slices/generation.ts)
 *   analysis    scores, heatmaps and their focus, head-grid colours            (slices/analysis.ts)
 *   seed grid   the experiment over several seeds                              (slices/seed-grid.ts)
 *   science     the science job running and the latest results                 (slices/science.ts)
 *   prompt sets the model's own and the imported prompt sets, which ones a study uses (slices/prompt-sets.ts)
 *   notices     what the user is told                                          (slices/notices.ts)
 * Views read it; controls call its actions; actions send worker requests; worker events come back
 * through routing.ts, the one place they enter. Nothing else holds state: bookkeeping such as the
 * request ids and the maps request in flight lives here too. One job at a time holds the model
 * session: slices/admission.ts asks the rule (core/session-admission.ts) before sending.
 */
import { createStore, type StoreApi } from 'zustand/vanilla';
import type { BackendPreference } from '../gpu/backend';
import type { AnalysisRequest } from '../workers/analysis-protocol';
import type { WorkerRequest } from '../workers/protocol';
import { createRouting, type RoutingActions } from './routing';
import { createAnalysisSlice, type AnalysisActions, type AnalysisData } from './slices/analysis';
import { createExperimentSlice, type ExperimentActions, type ExperimentData } from './slices/experiment';
import { createGenerationSlice, type GenerationActions, type GenerationData } from './slices/generation';
import { createNoticesSlice, type NoticesActions, type NoticesData } from './slices/notices';
import {
  createPromptSetsSlice,
  type PromptSetStorage,
  type PromptSetsActions,
  type PromptSetsData,
} from './slices/prompt-sets';
import { createScienceSlice, type ScienceActions, type ScienceSliceData } from './slices/science';
import { createSeedGridSlice, type SeedGridActions, type SeedGridData } from './slices/seed-grid';
import { createSessionSlice, type SessionActions, type SessionData } from './slices/session';

export type { Focus, HeadHover, Maps, PruningPreset, Scores, SeedGrid, UnitScores } from './analysis-state';
export { LIMITS, type Preset } from './slices/experiment';
export type { Generation, StepPreview, VariantImage } from './slices/generation';
export type { Notice, NoticeAction } from './slices/notices';
export { SEED_GRID_SIZE } from './slices/seed-grid';
export type { Progress, Status } from './slices/session';

export type LabData = SessionData &
  ExperimentData &
  GenerationData &
  AnalysisData &
  SeedGridData &
  ScienceSliceData &
  PromptSetsData &
  NoticesData;

export type LabActions = SessionActions &
  ExperimentActions &
  GenerationActions &
  AnalysisActions &
  SeedGridActions &
  ScienceActions &
  PromptSetsActions &
  NoticesActions &
  RoutingActions;

export type LabState = LabData & LabActions;
export type LabStore = StoreApi<LabState>;

export interface LabDeps {
  send(request: WorkerRequest): void;
  /** to the analysis worker; buffers in the request are transferred */
  analyze(request: AnalysisRequest): void;
  fetchJson(url: string): Promise<unknown>;
  /**
   * a JSON file a model's manifest lists, fetched from the model directory and checked against
   * its size and sha256 (the shipped universal mask); without it, shipped presets are not loaded
   */
  fetchModelJson?(modelUrl: string, entry: { path: string; bytes: number; sha256: string }): Promise<unknown>;
  /** a clock in ms for job timings; default performance.now */
  now?(): number;
  /** the page URL; model paths resolve against it */
  pageUrl: string;
  backendPreference: BackendPreference;
  /** test-only (?measure-software-gpu=1): time a software WebGPU adapter against WebAssembly under auto */
  measureSoftwareGpu?: boolean;
  requestedModel: string | null;
  /** the page's query: the experiment link to open (decoded once the model is loaded) */
  initialLink?: string;
  /**
   * generate the link's experiment as soon as it is applied: the lab passes true, so a shared link
   * shows its image and a first visit (a bare address) shows the default experiment's, without a
   * click. A link that cannot be read shows the default experiment and waits.
   */
  initialLinkRuns?: boolean;
  reloadPage(): void;
  /** where imported prompt sets survive a reload (IndexedDB in the lab); without it they last the session */
  promptSetStorage?: PromptSetStorage;
}

export function createLabStore(deps: LabDeps): LabStore {
  return createStore<LabState>()((...a) => ({
    ...createSessionSlice(deps)(...a),
    ...createExperimentSlice(deps)(...a),
    ...createGenerationSlice(deps)(...a),
    ...createAnalysisSlice(deps)(...a),
    ...createSeedGridSlice(deps)(...a),
    ...createScienceSlice(deps)(...a),
    ...createPromptSetsSlice(deps)(...a),
    ...createNoticesSlice(deps)(...a),
    ...createRouting(deps)(...a),
  }));
}
