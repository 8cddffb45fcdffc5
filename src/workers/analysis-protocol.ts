/**
 * The protocol between the UI thread and the analysis worker, in the inference protocol's style:
 * a discriminated union of requests in and events out, every event naming the request it answers.
 * The analysis worker holds the latest generation's attention (the inference worker sends it over
 * their direct channel, see peer-protocol.ts; it never passes through the UI thread) and the
 * model's training-image index, and answers with small, drawable results.
 */
import type { Manifest } from '../core/manifest';
import type { ReplicationScore } from '../core/metrics/replication';
import type { MapsPayload } from './analysis';
import type { RgbaImage } from './protocol';

/** One generated image of a run (a mask variant), as the inference worker returned it. */
export interface VariantInput {
  /** CHW float32 in [-1, 1] */
  raw: Float32Array;
  /** per step: ||eps_cond - eps_uncond|| */
  noiseGaps: number[];
}

/** What the heatmaps show: which image's attention, which token, layer, head and step. */
export interface MapFocus {
  /** index into the generation's variants */
  variant: number;
  /** token position in the encoded prompt (0 = <bos>) */
  token: number;
  /** layer (manifest.unet.layers index) of the per-layer map */
  layer: number;
  head: number | 'mean';
  /** 0-based captured step of the per-layer map, or the mean over all steps */
  step: number | 'all';
}

export interface VariantScores {
  /** Wen et al.: mean noise gap over the first MEMORIZATION_STEPS steps */
  memorization: number;
  /** nearest training image; null while the training index is unavailable */
  replication: ReplicationScore | null;
  /** that training image at the model's image size (thumbnails are upscaled) */
  nearest: RgbaImage | null;
  /** what the nearest image is, in words */
  nearestLabel: string;
  /** mean |this - variant 0| over pixels and channels in [0, 1] (0 for variant 0) */
  diffFromBaseline: number;
}

export interface LayerSeries {
  /** entropy over tokens / ln T, per layer */
  entropy: number[];
  /** mass on <bos>, per layer */
  bos: number[];
  /** mass on the focused token, per layer */
  token: number[];
}

export type AnalysisRequest =
  /** modelUrl: the model directory, absolute, ending in '/' */
  | { type: 'init'; id: number; modelUrl: string; manifest: Manifest }
  /** a finished generation: score every variant (its attention comes from the inference worker directly) */
  | { type: 'generation'; id: number; generation: number; variants: VariantInput[] }
  | { type: 'maps'; id: number; generation: number; focus: MapFocus }
  /** score images that are not the current generation (the multi-seed grid) */
  | { type: 'replicate'; id: number; variants: VariantInput[] }
  /** the analysis end of the direct channel to the inference worker; not answered, replaces the old one */
  | { type: 'connect'; id: number; port: MessagePort };

export type AnalysisEvent =
  | { type: 'ready'; id: number; trainImages: number }
  | { type: 'scores'; id: number; generation: number; variants: VariantScores[] }
  | ({ type: 'maps'; id: number; generation: number; focus: MapFocus } & MapsPayload)
  | { type: 'replication'; id: number; variants: VariantScores[] }
  | { type: 'error'; id: number; request: AnalysisRequest['type'] | 'unknown'; message: string };

/** Buffers to transfer (not copy) with a message, each once. */
export function analysisTransferables(message: AnalysisRequest | AnalysisEvent): Transferable[] {
  const buffers = new Set<ArrayBuffer>();
  const add = (a: { buffer: ArrayBufferLike }) => buffers.add(a.buffer as ArrayBuffer);
  switch (message.type) {
    case 'generation':
      for (const v of message.variants) add(v.raw);
      break;
    case 'connect':
      return [message.port];
    case 'replicate':
      for (const v of message.variants) add(v.raw);
      break;
    case 'maps':
      if ('daam' in message) {
        add(message.daam);
        add(message.layerMap);
        add(message.headScores);
        add(message.tokenWeights);
      }
      break;
    case 'scores':
    case 'replication':
      for (const v of message.variants) if (v.nearest) add(v.nearest.data);
      break;
    default:
      break;
  }
  return [...buffers];
}
