/**
 * The analysis worker: scores, nearest-training-image search and heatmap aggregation, so the UI
 * thread only draws. One switch over the protocol; every branch answers, errors included.
 * It keeps the latest generation's attention (sent by the inference worker over their direct
 * channel, for map requests while the user hovers) and the model's training-image index
 * (downloaded once, verified and cached like the model files, and lent to the inference worker).
 */
import type { Manifest } from '../core/manifest';
import type { TrainIndex } from '../core/metrics/replication';
import { computeMaps } from '../core/analysis/maps';
import { scoreVariants } from '../core/analysis/scores';
import { analysisTransferables, type AnalysisEvent, type AnalysisRequest } from './analysis-protocol';
import { startHeartbeat } from './heartbeat';
import { AnalysisPeer } from './peer';
import { TrainIndexHolder } from './train-index';

const scope = self as unknown as DedicatedWorkerGlobalScope;

interface Model {
  manifest: Manifest;
  /** resolves to null when the index could not be loaded: scores then come without replication */
  train: Promise<TrainIndex | null>;
}

let model: Model | null = null;
const trainIndex = new TrainIndexHolder();
const peer = new AnalysisPeer((modelUrl, manifest) => trainIndex.get(modelUrl, manifest));

function emit(event: AnalysisEvent): void {
  scope.postMessage(event, analysisTransferables(event));
}

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

function requireModel(): Model {
  if (!model) throw new Error('the analysis worker has no model yet');
  return model;
}

async function handle(req: AnalysisRequest): Promise<void> {
  try {
    switch (req.type) {
      case 'init': {
        // A model loaded from a diffusers folder brings no training images to compare with.
        if (req.manifest.latent) {
          trainIndex.clear();
          model = { manifest: req.manifest, train: Promise.resolve(null) };
          emit({ type: 'ready', id: req.id, trainImages: 0 });
          return;
        }
        const loading = trainIndex.get(req.modelUrl, req.manifest);
        // Held attention stays: it is keyed by generation, and the next run's may already be here.
        model = { manifest: req.manifest, train: loading.catch(() => null) };
        const train = await loading;
        emit({ type: 'ready', id: req.id, trainImages: train.count });
        return;
      }
      case 'generation': {
        const m = requireModel();
        const variants = scoreVariants(m.manifest, await m.train, req.variants);
        emit({ type: 'scores', id: req.id, generation: req.generation, variants });
        return;
      }
      case 'maps': {
        const m = requireModel();
        const attention = await peer.attention(req.generation);
        const maps = computeMaps(m.manifest, attention, req.focus);
        emit({ type: 'maps', id: req.id, generation: req.generation, focus: req.focus, ...maps });
        return;
      }
      case 'replicate': {
        const m = requireModel();
        emit({ type: 'replication', id: req.id, variants: scoreVariants(m.manifest, await m.train, req.variants) });
        return;
      }
      case 'connect':
        peer.connect(req.port);
        return;
      default: {
        const unknown = req as { type?: unknown; id?: unknown };
        emit({
          type: 'error',
          id: typeof unknown.id === 'number' ? unknown.id : -1,
          request: 'unknown',
          message: `Unknown request type ${String(unknown.type)}.`,
        });
      }
    }
  } catch (err) {
    emit({ type: 'error', id: req.id, request: req.type, message: text(err) });
  }
}

scope.onmessage = (ev: MessageEvent<AnalysisRequest>) => {
  void handle(ev.data);
};
startHeartbeat((beat) => scope.postMessage(beat));
