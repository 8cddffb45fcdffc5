/**
 * The model's copy detector (manifest files.copyDetector) on onnxruntime-node: its ONNX embedding,
 * run through the lab's ONNX image-encoder adapter (core/metrics/onnx-encoder.ts), and the
 * precomputed embeddings of the training images, as a core CopyDetector.
 */
import * as ort from 'onnxruntime-node';
import { type Manifest, organism } from '../core/manifest';
import { type CopyDetector, decodeEmbeddingIndex } from '../core/metrics/copy-detection';
import { onnxImageEncoder } from '../core/metrics/onnx-encoder';
import type { CopyReference } from '../core/metrics/replication';
import { ModelDirError, loadTrainIndex, readModelFile } from './runner';

export type NodeCopyDetector = CopyDetector & { release(): Promise<void> };

/** The detector of a model directory, or null when its manifest lists none. */
export async function loadCopyDetector(
  dir: string,
  manifest: Manifest,
  options: { threads?: number } = {},
): Promise<NodeCopyDetector | null> {
  const entry = manifest.files?.copyDetector;
  if (!entry) return null;
  const { count, memorizedCount } = organism(manifest).files.trainIndex;
  if (entry.index.count !== count)
    throw new ModelDirError(
      `${entry.index.path} has embeddings of ${entry.index.count} images, the training index ${count}: they must describe the same images`,
    );
  const [modelBytes, indexBytes] = await Promise.all([
    readModelFile(dir, entry.model),
    readModelFile(dir, entry.index),
  ]);
  const index = decodeEmbeddingIndex(indexBytes, {
    count,
    dim: entry.index.dim,
    memorizedCount,
    encoding: entry.index.encoding,
  });
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelBytes, {
      intraOpNumThreads: options.threads ?? 2,
      interOpNumThreads: 1,
    });
  } catch (e) {
    throw new ModelDirError(`${entry.model.path} is not a usable ONNX graph: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!session.outputNames.includes(entry.output))
    throw new ModelDirError(`${entry.model.path} lacks the output "${entry.output}" named in manifest.json`);
  const [lo, hi] = manifest.image.range;
  // bytes v -> the model's range: (v / 255 - mean) / std with mean = -lo / (hi - lo), std = 1 / (hi - lo)
  const mean = -lo / (hi - lo);
  const std = 1 / (hi - lo);
  const encoder = onnxImageEncoder(session, (data, dims) => new ort.Tensor('float32', data, dims), {
    id: `${manifest.id}/${entry.model.path.split('/').at(-1)}`,
    width: manifest.image.width,
    height: manifest.image.height,
    mean: [mean, mean, mean],
    std: [std, std, std],
    fit: 'stretch',
    input: entry.input,
    output: entry.output,
    maxBatch: 256,
  });
  return {
    ...encoder,
    description: `the model's copy-detection embedding (${entry.index.dim} dimensions, trained to ignore recolouring, brightness, small shifts and crops, and noise) against its ${count} training images`,
    index,
    release: () => session.release(),
  };
}

/**
 * What the copy rules compare generations with: the training index, and the copy detector when
 * the model ships one (release it with `reference.detector?.release()`).
 */
export async function loadCopyReference(
  dir: string,
  manifest: Manifest,
): Promise<CopyReference & { detector?: NodeCopyDetector }> {
  const [train, detector] = await Promise.all([loadTrainIndex(dir, manifest), loadCopyDetector(dir, manifest)]);
  return detector ? { ...train, detector } : train;
}
