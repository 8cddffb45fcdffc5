/**
 * The generation slice: the run in progress (its id, params and masks, its step previews) and the
 * latest result. A newer run supersedes a running one at its next step boundary.
 */
import type { PrunedUnits } from '../../core/experiment/experiment';
import type { GenerateParams, RgbaImage } from '../../workers/protocol';
import { variantsFor } from '../experiment-state';
import { admission } from './admission';
import { canRun } from './experiment';
import { type SliceCreator, takeRequestId } from './slice';

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
  /** per position, when the model's tokenizer has its own pieces (see Tokenized.labels) */
  tokenLabels?: string[];
  unknownWords: string[];
  tokenWords: string[];
  truncated: boolean;
  totalMs: number;
  meanStepMs: number;
  /** attention was captured (it went to the analysis worker, not the store) */
  hasAttention: boolean;
  /** WebGPU, a latent model: UNet calls that uploaded the text context, and those that found it on the GPU */
  contextOnGpu?: { uploads: number; reuses: number };
}

export interface GenerationData {
  previews: StepPreview[];
  result: Generation | null;
  /** the generate request whose events are still wanted; events for other ids are stale */
  generateId: number | null;
  pendingParams: GenerateParams | null;
  pendingMasks: PrunedUnits | null;
}

export interface GenerationActions {
  generate(): void;
  cancel(): void;
}

export type GenerationSlice = GenerationData & GenerationActions;

export const createGenerationSlice: SliceCreator<GenerationSlice> = (deps) => (set, get) => ({
  previews: [],
  result: null,
  generateId: null,
  pendingParams: null,
  pendingMasks: null,

  generate() {
    const s = get();
    if (!s.manifest || !canRun(s)) {
      s.notify('info', 'The model is still loading; Generate becomes available when it is ready.');
      return;
    }
    const admitted = admission(s, 'generate');
    if (admitted.action === 'refuse') {
      s.notify('info', admitted.message);
      return;
    }
    const params: GenerateParams = {
      prompt: s.prompt.trim(),
      seed: s.seed,
      steps: s.steps,
      guidance: s.guidance,
      captureAttention: s.captureAttention,
    };
    const id = takeRequestId({ set, get });
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
});
