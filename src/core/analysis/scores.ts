/**
 * Scores per generated image, as the lab shows them beside each run: Wen's memorization score,
 * the nearest training image (shown, and named in words) and the difference from the baseline.
 * Pure: the analysis worker runs them, and the science jobs name nearest images with them.
 */
import type { RgbaImage } from '../image';
import type { Manifest } from '../manifest';
import { noiseGapScore } from '../metrics/detection';
import { nearestTrainingImage, type ReplicationScore, type TrainIndex } from '../metrics/replication';

/** One generated image of a run (a mask variant), as the inference worker returned it. */
export interface VariantInput {
  /** CHW float32 in [-1, 1] */
  raw: Float32Array;
  /** per step: ||eps_cond - eps_uncond|| */
  noiseGaps: number[];
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

/** Steps averaged for Wen's score: the first steps carry the signal (Wen et al., ICLR 2024). */
export const MEMORIZATION_STEPS = 5;

/** The stored training image a score points at, as RGBA at the model's image size. */
export function nearestImage(train: TrainIndex, score: ReplicationScore): RgbaImage {
  const size = train.size;
  const data = new Uint8ClampedArray(size * size * 4);
  const src = score.resolution === 'full' ? train.memorized : train.thumbnails;
  const side = score.resolution === 'full' ? size : train.thumbSize;
  const offset = score.index * side * side * 3;
  const f = size / side;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      // Nearest-neighbour: an 8x8 thumbnail stays visibly a thumbnail instead of a smooth guess.
      const s = offset + (Math.floor(y / f) * side + Math.floor(x / f)) * 3;
      const d = (y * size + x) * 4;
      data[d] = src[s];
      data[d + 1] = src[s + 1];
      data[d + 2] = src[s + 2];
      data[d + 3] = 255;
    }
  }
  return { width: size, height: size, data };
}

/** What a training-index entry is, in words for a caption. */
export function describeTrainingImage(manifest: Manifest, score: ReplicationScore): string {
  if (score.memorized) {
    const entry = manifest.memorized.find((m) => m.imageIndex === score.index);
    return entry ? `memorized ${entry.kind} image “${entry.caption}”` : `memorized image #${score.index}`;
  }
  return `training scene #${score.index} (8×8 thumbnail)`;
}

function meanAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length || a.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  // [-1, 1] values: halve to report a share of the full range, like the views' 8-bit diff.
  return s / a.length / 2;
}

/** Scores for every variant of one run; variant 0 is the baseline the others are compared with. */
export function scoreVariants(
  manifest: Manifest,
  train: TrainIndex | null,
  variants: readonly VariantInput[],
): VariantScores[] {
  const { width, height } = manifest.image;
  return variants.map((v) => {
    const memorization = v.noiseGaps.length > 0 ? noiseGapScore(v.noiseGaps, MEMORIZATION_STEPS) : 0;
    const diffFromBaseline = meanAbsDiff(v.raw, variants[0].raw);
    if (!train)
      return {
        memorization,
        replication: null,
        nearest: null,
        nearestLabel: 'training images not loaded',
        diffFromBaseline,
      };
    if (v.raw.length !== 3 * width * height)
      throw new RangeError(`image has ${v.raw.length} values, expected 3 x ${width} x ${height}`);
    const replication = nearestTrainingImage(v.raw, train);
    return {
      memorization,
      replication,
      nearest: nearestImage(train, replication),
      nearestLabel: describeTrainingImage(manifest, replication),
      diffFromBaseline,
    };
  });
}
