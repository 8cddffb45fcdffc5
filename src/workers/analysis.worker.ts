/**
 * The analysis worker: scores, nearest-training-image search and heatmap aggregation, so the UI
 * thread only draws. One switch over the protocol; every branch answers, errors included.
 * It keeps the latest generation's attention (for map requests while the user hovers) and the
 * model's training-image index (downloaded once, verified and cached like the model files).
 */
import type { Manifest } from '../core/manifest';
import { trainIndexFromFiles, type TrainIndex } from '../core/metrics/replication';
import { fetchVerified } from '../gpu/download';
import { computeMaps, scoreVariants } from './analysis';
import { analysisTransferables, type AnalysisEvent, type AnalysisRequest } from './analysis-protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;

interface Model {
  manifest: Manifest;
  /** resolves to null when the index could not be loaded: scores then come without replication */
  train: Promise<TrainIndex | null>;
}

let model: Model | null = null;
let latest: { generation: number; attention: Float32Array[][][] | null } | null = null;

function emit(event: AnalysisEvent): void {
  scope.postMessage(event, analysisTransferables(event));
}

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function loadTrainIndex(modelUrl: string, manifest: Manifest): Promise<TrainIndex> {
  const quiet = () => undefined;
  const [memorized, index] = await Promise.all([
    fetchVerified(modelUrl, manifest.files.memorizedImages, quiet),
    fetchVerified(modelUrl, manifest.files.trainIndex, quiet),
  ]);
  return trainIndexFromFiles(manifest, new Uint8Array(memorized.bytes), new Uint8Array(index.bytes));
}

function requireModel(): Model {
  if (!model) throw new Error('the analysis worker has no model yet');
  return model;
}

async function handle(req: AnalysisRequest): Promise<void> {
  try {
    switch (req.type) {
      case 'init': {
        const loading = loadTrainIndex(req.modelUrl, req.manifest);
        model = { manifest: req.manifest, train: loading.catch(() => null) };
        latest = null;
        const train = await loading;
        emit({ type: 'ready', id: req.id, trainImages: train.count });
        return;
      }
      case 'generation': {
        const m = requireModel();
        latest = { generation: req.generation, attention: req.attention ?? null };
        const variants = scoreVariants(m.manifest, await m.train, req.variants);
        emit({ type: 'scores', id: req.id, generation: req.generation, variants });
        return;
      }
      case 'maps': {
        const m = requireModel();
        if (!latest || latest.generation !== req.generation) throw new Error('that generation is no longer held');
        if (!latest.attention) throw new Error('that generation was run without attention capture');
        const maps = computeMaps(m.manifest, latest.attention, req.focus);
        emit({ type: 'maps', id: req.id, generation: req.generation, focus: req.focus, ...maps });
        return;
      }
      case 'replicate': {
        const m = requireModel();
        emit({ type: 'replication', id: req.id, variants: scoreVariants(m.manifest, await m.train, req.variants) });
        return;
      }
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
