/**
 * The model's copy detector (manifest files.copyDetector) on onnxruntime-node: its ONNX embedding
 * and the precomputed embeddings of the training images, as a core CopyDetector.
 */
import type * as OrtNode from 'onnxruntime-node';
import type { Manifest } from '../core/manifest';
import type { CopyReference } from '../core/metrics/replication';
import { type CopyDetector, decodeEmbeddingIndex, normalised } from '../core/metrics/copy-detection';
import { type ImageData3, toUnitChwBatch } from '../core/metrics/pixels';
import { ModelDirError, loadTrainIndex, readModelFile } from './runner';

export type NodeCopyDetector = CopyDetector & { release(): Promise<void> };

/** The detector of a model directory, or null when its manifest lists none. */
export async function loadCopyDetector(
  dir: string,
  manifest: Manifest,
  options: { threads?: number } = {},
): Promise<NodeCopyDetector | null> {
  const entry = manifest.files.copyDetector;
  if (!entry) return null;
  const { count, memorizedCount } = manifest.files.trainIndex;
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
  const ort = await import('onnxruntime-node');
  const threads = options.threads ?? 2;
  let session: OrtNode.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelBytes, { intraOpNumThreads: threads, interOpNumThreads: 1 });
  } catch (e) {
    throw new ModelDirError(`${entry.model.path} is not a usable ONNX graph: ${(e as Error).message}`);
  }
  if (!session.inputNames.includes(entry.input) || !session.outputNames.includes(entry.output))
    throw new ModelDirError(
      `${entry.model.path} lacks the input "${entry.input}" or the output "${entry.output}" named in manifest.json`,
    );
  const { width, height } = manifest.image;
  const dim = entry.index.dim;
  return {
    name: entry.model.path,
    dim,
    index,
    async embed(images: readonly ImageData3[]): Promise<Float32Array[]> {
      if (images.length === 0) return [];
      const batch = toUnitChwBatch(images, width, height);
      const out = await session.run({
        [entry.input]: new ort.Tensor('float32', batch, [images.length, 3, height, width]),
      });
      const data = out[entry.output].data as Float32Array;
      if (data.length !== images.length * dim)
        throw new Error(`${entry.model.path} returned ${data.length} values for ${images.length} images of ${dim}`);
      // normalised again: the graph ends in an L2 normalisation, but an outside embedding may not
      return images.map((_, i) => normalised(data.subarray(i * dim, (i + 1) * dim)));
    },
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
