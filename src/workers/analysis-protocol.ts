/**
 * The protocol between the UI thread and the analysis worker, in the inference protocol's style:
 * a discriminated union of requests in and events out, every event naming the request it answers.
 * The analysis worker holds the latest generation's attention (the inference worker sends it over
 * their direct channel, see peer-protocol.ts; it never passes through the UI thread) and the
 * model's training-image index, and answers with small, drawable results.
 */
import type { MapFocus, MapsPayload } from '../core/analysis/maps';
import type { VariantInput, VariantScores } from '../core/analysis/scores';
import type { Manifest } from '../core/manifest';

export type { LayerSeries, MapFocus } from '../core/analysis/maps';
export type { VariantInput, VariantScores } from '../core/analysis/scores';

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
