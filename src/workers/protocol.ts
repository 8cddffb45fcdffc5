/**
 * The one message protocol between the UI thread and the inference worker: a discriminated union
 * of requests in and events out. Every request carries an id and every event names the request it
 * answers, so the store can ignore events of a superseded run.
 */
import type { RgbaImage } from '../core/image';
import type { ScienceOutcome, ScienceRequest } from '../core/jobs';
import type { Manifest } from '../core/manifest';
import type { MaskSet } from '../core/masks';
import type { GenerateTimings, TokenInfo } from '../core/pipeline';
import type { BackendChoice, BackendPreference } from '../gpu/backend';
import type { DownloadFailure } from '../gpu/download';
import type { BareBench, PipelineBench } from './bench';

export type { RgbaImage } from '../core/image';

export interface GenerateParams {
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  captureAttention: boolean;
}

export type WorkerRequest =
  /** modelUrl: the model directory, absolute, ending in '/' */
  | {
      type: 'load';
      id: number;
      /** the lab's model directory (absolute, ending in '/'); for a diffusers folder, the name it goes by */
      modelUrl: string;
      backend: BackendPreference;
      /** a Stable-Diffusion-family model in the diffusers ONNX layout instead of a lab model directory */
      source?: FolderSource;
      /** test-only, see LoadOptions in load-model.ts */
      measureSoftwareGpu?: boolean;
    }
  /**
   * variants: one MaskSet per image, all from the same seed in one batch; [baseline, pruned] when
   * anything is pruned. Left out or empty: the unpruned model alone.
   */
  | { type: 'generate'; id: number; params: GenerateParams; variants?: MaskSet[] }
  /**
   * a science job (src/core/jobs, run by src/workers/science.ts). It waits for a running generation to finish; while it
   * runs, generate requests are refused (one model session, one computation at a time).
   */
  | ({ type: 'science'; id: number } & ScienceRequest)
  /** stop the generate or science job with this id at its next model call */
  | { type: 'cancel'; id: number }
  /**
   * the inference end of the direct channel to the analysis worker (peer-protocol.ts): attention
   * and the training index travel over it, never through the UI thread. Not answered; a new port
   * replaces the old one (after either worker restarts); null: the analysis worker is gone.
   */
  | { type: 'connect'; id: number; port: MessagePort | null }
  /**
   * time the worker's per-step pipeline against a bare session.run loop on the loaded session;
   * with bareBatch, time only a bare loop of `steps` calls at that many rows
   */
  | { type: 'bench'; id: number; steps: number; generations: number; bareBatch?: number };

/** Where a diffusers folder comes from: files the user picked (Files clone into the worker) or a base URL. */
export type FolderSource = { kind: 'files'; files: File[] } | { kind: 'url'; baseUrl: string };

export type LoadPhase = 'manifest' | 'download' | 'session';

export type ErrorKind =
  /** a model file failed to download or verify: retrying the load may help */
  | 'download'
  /** the manifest or ONNX files are unusable: retrying will not help */
  | 'model'
  | 'generate'
  | 'science'
  /** a generate refused because a science job holds the session */
  | 'busy'
  /** the run was cancelled or superseded by a newer one; not a failure */
  | 'cancelled'
  | 'protocol';

export type WorkerEvent =
  | {
      type: 'progress';
      id: number;
      phase: LoadPhase;
      /** the file being fetched, or what is being prepared */
      label: string;
      loaded: number;
      total: number;
      fromCache: boolean;
    }
  | {
      type: 'ready';
      id: number;
      manifest: Manifest;
      backend: BackendChoice;
      /** per file: bytes and whether it came from the Cache API */
      files: { path: string; bytes: number; fromCache: boolean }[];
      loadMs: number;
    }
  | {
      type: 'step';
      id: number;
      step: number;
      of: number;
      timestep: number;
      /** predicted clean image per variant */
      previews: RgbaImage[];
      noiseGap: number[];
    }
  | {
      type: 'result';
      id: number;
      images: RgbaImage[];
      /** the same images as CHW float32 in [-1, 1], for analysis and exact comparison */
      raw: Float32Array[];
      noiseGaps: number[][];
      /**
       * with captureAttention: the attention ([step][layer][variant] -> conditional probs) went to
       * the analysis worker over the direct channel, under this request's id as the generation
       */
      sharedAttention?: boolean;
      tokens: TokenInfo;
      timings: GenerateTimings;
      /** on WebGPU, a latent model: UNet calls of this run that found the text context already on the GPU */
      contextOnGpu?: { uploads: number; reuses: number };
    }
  | { type: 'bench'; id: number; result: PipelineBench | BareBench }
  /** throttled; `stage` names the sub-computation, done/total count its model calls */
  | {
      type: 'science-progress';
      id: number;
      job: ScienceRequest['job'];
      stage: string;
      done: number;
      total: number;
      /** what the model call in progress is about: which unit is masked, which prompts */
      detail?: string;
    }
  /** cached: answered from the per-experiment cache without a model call */
  | { type: 'science-result'; id: number; outcome: ScienceOutcome; cached: boolean; ms: number }
  | {
      type: 'error';
      id: number;
      request: WorkerRequest['type'] | 'unknown';
      kind: ErrorKind;
      /** one sentence for the user */
      message: string;
      /** the technical detail (shown behind a disclosure) */
      detail?: string;
      failure?: DownloadFailure;
    };

/** Buffers to transfer (not copy) with an event. */
export function transferables(event: WorkerEvent): Transferable[] {
  switch (event.type) {
    case 'step':
      return [...new Set(event.previews.map((p) => p.data.buffer as ArrayBuffer))];
    case 'result': {
      // A Set: listing one buffer twice makes postMessage throw.
      // Buffers are fresh per message (never SharedArrayBuffer), so the casts hold.
      const buffers = new Set<ArrayBuffer>();
      for (const p of event.images) buffers.add(p.data.buffer as ArrayBuffer);
      for (const r of event.raw) buffers.add(r.buffer as ArrayBuffer);
      return [...buffers];
    }
    default:
      return [];
  }
}
