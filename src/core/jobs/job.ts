/**
 * What a science job is: one entry of the registry (registry.ts) says everything the lab needs to
 * know about it (its label, the panel that shows it, its default params, the key its result is
 * cached under, how it runs and what its result changes besides itself). Entries run on a runner
 * environment that the host provides: the inference worker in the browser, Node in tests.
 */
import type { JpegDecoder } from '../image-files';
import type { Manifest } from '../manifest';
import type { ResultTable } from './result-tables';
import type { TrainIndex } from '../metrics/replication';
import type { ModelRunner } from '../pipeline';
import type { PromptSet } from '../prompts/types';
import type { ExperimentCache } from '../science/cache';
import type { Progress, RunContext } from '../science/context';
import type { AblationUnits } from '../science/localize';
import type { ScienceRunner } from '../science/sampler';
import type { JobEffects } from './effects';

/**
 * What a job runs on. The host gates the runners (the worker yields to its event loop and checks
 * the signal before every model call, so Cancel is answered within one call).
 */
export interface JobEnv extends RunContext {
  /** the organism's runner, or a latent model's science sampler (core/science/sampler.ts) */
  runner: ScienceRunner;
  manifest: Manifest;
  /** results per experiment; keys name the model id@version */
  cache: ExperimentCache;
  /**
   * the training images, for replication scores (loaded on first use); absent for a model that
   * brings none (a diffusers folder), whose evaluation then reports image-free proxies
   */
  train?: () => Promise<TrainIndex>;
  /** a JPEG decoder for reference images (PNG needs none); without it a JPEG reference is unreadable */
  decodeJpeg?: JpegDecoder;
  /**
   * Another model by its directory URL (a variant, or the base of the loaded variant), loaded on
   * first use with progress and kept; the loaded model itself when the URL is its own.
   */
  openModel?: (url: string, onProgress: (p: Progress) => void) => Promise<{ manifest: Manifest; runner: ModelRunner }>;
  /** A JSON file a model's manifest lists (presets), fetched and checked against its size and hash. */
  fetchJson?: (modelUrl: string, entry: { path: string; bytes: number; sha256: string }) => Promise<unknown>;
  /** the loaded model's directory URL */
  modelUrl?: string;
}

/** What the lab knows when a panel button starts a job with the model's defaults. */
export interface PanelContext {
  /** the current prompt, trimmed (detection and NeMo work on it) */
  prompt: string;
  /** what the universal mask prunes (the panel's select) */
  units: AblationUnits;
  /**
   * the prompt sets chosen in the panel (imported lists, or the model's own with others); absent:
   * the model's own sets at the lab's sizes (core/prompts/selection.ts studySelection)
   */
  promptSets?: readonly PromptSet[];
}

/** The panel that starts a job and shows its progress bar. */
export type JobPanel = 'science' | 'variants';

/**
 * One job: params P, result R (plain JSON: results are cached as JSON), and C, what its default
 * params are built from (PanelContext for the science panel's buttons; never for jobs whose params
 * the lab builds itself).
 */
export interface JobSpec<P, R, C = never> {
  /** what the progress bar calls it */
  label: string;
  panel: JobPanel;
  defaults?: (manifest: Manifest, context: C) => P;
  /** the key the whole result is stored under; null: never cached (a file the model ships) */
  cacheKey: (manifest: Manifest, params: P) => string | null;
  run: (env: JobEnv, params: P) => Promise<R>;
  /** what a finished job changes in the lab besides its own result */
  effects?: (manifest: Manifest, result: R) => JobEffects;
  /** the result as rows for a CSV export (jobs whose result is images or a file have none) */
  table?: (manifest: Manifest, result: R) => ResultTable;
  /** the JSON export when it is more than the result with its model (default: resultJson) */
  json?: (manifest: Manifest, result: R) => string;
}

/** A job the science panel's buttons start with the model's default params for the lab's prompt and unit kind. */
export type LabJobSpec<P, R> = JobSpec<P, R, PanelContext> & { defaults: (manifest: Manifest, lab: PanelContext) => P };

/** The panel's imported sets as a params field (absent for the model's own, so their keys stay as they were). */
export function setsOf(lab: PanelContext): { promptSets?: PromptSet[] } {
  return lab.promptSets ? { promptSets: [...lab.promptSets] } : {};
}

/** The training images, or the reason a job that needs them cannot run. */
export function trainingImages(env: JobEnv): Promise<TrainIndex> {
  if (!env.train)
    return Promise.reject(
      new Error(
        'replication needs reference images (the training images the prompts may copy); this model brings none',
      ),
    );
  return env.train();
}

/** The first error a job without a second model or file access meets. */
export function opener(env: JobEnv): NonNullable<JobEnv['openModel']> {
  if (!env.openModel) throw new Error('this lab cannot open a second model');
  return env.openModel;
}
