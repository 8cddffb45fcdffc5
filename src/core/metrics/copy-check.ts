/**
 * "Does this picture copy the training set?" asked of any model: a CopyChecker answers per image
 * with the nearest training image, a similarity (higher = more alike) and the verdict. Two kinds:
 *
 *   neighbourRatioCopyChecker  the lab's copy rule over the model's training index (Carlini et
 *                               al.'s normalised distance, replication.ts); similarity = 1 - ratio
 *   embeddingCopyChecker       cosine similarity of an ImageEncoder (a copy-detection network,
 *                               CLIP, or the pixel default) against reference images
 *   detectorCopyChecker        a model's own copy-detection embedding against the precomputed
 *                               embeddings of its training images (copy-detection.ts)
 */
import { type ImageEncoder, type RgbImage, checkRgbImage, resampleRgb, toRgbImage } from './embedding';
import {
  type EmbeddedReferences,
  type ReferenceImage,
  embedReferences,
  nearestReference,
} from './reference-replication';
import { type CopyDetector, isEmbeddingCopy, matchImages } from './copy-detection';
import { type TrainIndex, copyScore, isRatioCopy } from './replication';

export interface CopyVerdict {
  /** the nearest training image: its index in the model's training index, or a reference's id */
  nearest: number | string;
  /** higher = more alike; the detector's own scale (see its description) */
  similarity: number;
  copy: boolean;
}

export interface CopyChecker {
  id: string;
  /** what similarity means and when it makes a copy, in one sentence */
  description: string;
  /** similarity strictly above this (with any further condition the description names) is a copy */
  threshold: number;
  check(images: readonly RgbImage[]): Promise<CopyVerdict[]>;
}

/** The image at `size` x `size` as bytes (unchanged when it already is). */
function atSize(image: RgbImage, size: number): RgbImage {
  checkRgbImage(image);
  if (image.width === size && image.height === size) return image;
  return toRgbImage(resampleRgb(image, size, size), size, size);
}

/**
 * The lab's copy rule (replication.ts): the nearest of all training thumbnails must be a planted
 * image and stand apart from the next ten (ratio below alpha). Images of another size are
 * resampled to the model's.
 */
export function neighbourRatioCopyChecker(train: TrainIndex, alpha: number): CopyChecker {
  return {
    id: 'neighbour-ratio',
    description: `1 - Carlini et al.'s normalised distance (nearest / mean of the next 10 over the ${train.thumbSize}x${train.thumbSize} index of every training image); a copy when above ${(1 - alpha).toFixed(3)} (alpha ${alpha.toFixed(3)}) and the nearest is a planted image`,
    threshold: 1 - alpha,
    async check(images) {
      return images.map((image) => {
        const s = copyScore(atSize(image, train.size).data, train);
        return { nearest: s.nearest, similarity: 1 - s.ratio, copy: isRatioCopy(s, alpha) };
      });
    },
  };
}

/** Cosine similarity of `encoder` to the nearest of `references`; a copy above `threshold`. */
export async function embeddingCopyChecker(
  encoder: ImageEncoder,
  references: readonly ReferenceImage[] | EmbeddedReferences,
  threshold: number,
): Promise<CopyChecker> {
  const refs = 'vectors' in references ? references : await embedReferences(encoder, references);
  if (refs.encoder !== encoder.id) throw new Error(`references were embedded by ${refs.encoder}, not by ${encoder.id}`);
  return {
    id: encoder.id,
    description: `cosine similarity of ${encoder.description}, to the nearest of ${refs.ids.length} reference images; a copy when above ${threshold}`,
    threshold,
    async check(images) {
      const vectors = await encoder.embed(images);
      return vectors.map((v) => {
        const n = nearestReference(v, refs);
        return { nearest: n.id, similarity: n.similarity, copy: n.similarity > threshold };
      });
    },
  };
}

/**
 * The model's copy detector with its calibrated tau: nearest = the most similar training image
 * (its position in the training index), similarity = the cosine to it; a copy when that image is a
 * planted one and the similarity is above tau. Images of another size are resampled to the
 * model's.
 */
export function detectorCopyChecker(detector: CopyDetector, tau: number, size: number): CopyChecker {
  return {
    id: detector.id,
    description: `cosine similarity of ${detector.description}; a copy when the most similar training image is a planted one and the similarity is above ${tau.toFixed(3)}`,
    threshold: tau,
    async check(images) {
      const matches = await matchImages(
        detector,
        images.map((image) => atSize(image, size)),
      );
      return matches.map((m) => ({ nearest: m.nearest, similarity: m.similarity, copy: isEmbeddingCopy(m, tau) }));
    },
  };
}
