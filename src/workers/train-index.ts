/**
 * A model's training index (the planted images and the thumbnails of every training image),
 * fetched verified against the manifest (and cached like the model files). The analysis worker
 * owns it and lends it to the inference worker over their channel (peer.ts); the inference worker
 * loads it itself only when no analysis worker is connected.
 */
import { type Manifest, organism } from '../core/manifest';
import { trainIndexFromFiles, type TrainIndex } from '../core/metrics/replication';
import { fetchVerified } from '../gpu/download';

export async function loadTrainIndex(modelUrl: string, manifest: Manifest): Promise<TrainIndex> {
  const quiet = () => undefined;
  const [memorized, index] = await Promise.all([
    fetchVerified(modelUrl, organism(manifest).files.memorizedImages, quiet),
    fetchVerified(modelUrl, organism(manifest).files.trainIndex, quiet),
  ]);
  return trainIndexFromFiles(manifest, new Uint8Array(memorized.bytes), new Uint8Array(index.bytes));
}

/**
 * One load per model URL, kept while that model is current; a failed load is forgotten so a
 * later request may retry it.
 */
export class TrainIndexHolder {
  private held: { url: string; index: Promise<TrainIndex> } | null = null;

  constructor(private readonly load: (modelUrl: string, manifest: Manifest) => Promise<TrainIndex> = loadTrainIndex) {}

  get(modelUrl: string, manifest: Manifest): Promise<TrainIndex> {
    if (this.held?.url === modelUrl) return this.held.index;
    const held = { url: modelUrl, index: this.load(modelUrl, manifest) };
    this.held = held;
    held.index.catch(() => {
      if (this.held === held) this.held = null;
    });
    return held.index;
  }

  clear(): void {
    this.held = null;
  }
}
