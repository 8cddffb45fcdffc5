/**
 * Replication: is a generated image a copy of a training image?
 *
 * The model directory carries full-resolution copies of the memorized images only (memorized.bin)
 * and 8x8 thumbnails of every distinct training image (train-index.bin, memorized first). So the
 * nearest training image is found by comparing
 *   - each memorized image at full resolution (exact), and
 *   - every other training image at thumbnail resolution (box-filtered generation vs thumbnail).
 * A thumbnail distance is a lower bound of the full-resolution one (averaging can only shrink
 * differences), so this choice can only favour scenes over memorized images: it never over-claims
 * a copy. Distances are RMSE in [-1, 1] units; the tiled L2 is Carlini et al.'s criterion (the
 * largest per-tile RMSE over a 4x4 grid of tiles), so a match must hold in every part of the image,
 * not on average. Carlini et al. also normalise by the distance to other neighbours; with one
 * planted image per caption that adds nothing here, so it is left out.
 */
import { type Manifest, organism } from '../manifest';
import {
  type CopyDetector,
  type EmbeddingMatch,
  asRgbImage,
  calibrateSimilarity,
  isEmbeddingCopy,
  matchImages,
} from './copy-detection';
import { byteToUnit, thumbnailHwc, toUnitHwc, type ImageData3 } from './pixels';

export interface TrainIndex {
  /** full-resolution memorized images, uint8 [memorizedCount, size, size, 3] */
  memorized: Uint8Array;
  /** thumbnails of every distinct training image, uint8 [count, thumbSize, thumbSize, 3], memorized first */
  thumbnails: Uint8Array;
  count: number;
  memorizedCount: number;
  size: number;
  thumbSize: number;
}

/** Wrap the model's two binary files, checking their sizes against the manifest. */
export function trainIndexFromFiles(
  manifest: Manifest,
  memorizedBin: Uint8Array,
  trainIndexBin: Uint8Array,
): TrainIndex {
  const { count, memorizedCount, thumbSize } = organism(manifest).files.trainIndex;
  const size = manifest.image.width;
  if (manifest.image.height !== size) throw new RangeError('replication search expects square images');
  if (memorizedBin.length !== memorizedCount * size * size * 3) {
    throw new RangeError(
      `memorized images: expected ${memorizedCount} x ${size}x${size}x3 bytes, got ${memorizedBin.length}`,
    );
  }
  if (trainIndexBin.length !== count * thumbSize * thumbSize * 3) {
    throw new RangeError(
      `train index: expected ${count} x ${thumbSize}x${thumbSize}x3 bytes, got ${trainIndexBin.length}`,
    );
  }
  return { memorized: memorizedBin, thumbnails: trainIndexBin, count, memorizedCount, size, thumbSize };
}

export interface ReplicationScore {
  /** index into the train index (memorized images first, so index < memorizedCount means memorized) */
  index: number;
  memorized: boolean;
  /** the resolution the distances below were measured at */
  resolution: 'full' | 'thumbnail';
  /** RMSE in [-1, 1] units (0 = identical, 2 = opposite extremes) */
  l2: number;
  /** cosine similarity of the two images as vectors of [-1, 1] values */
  cosine: number;
  /** max over a 4x4 grid of tiles of the per-tile RMSE (Carlini et al.) */
  tiledL2: number;
}

/** Tiles per side for the tiled L2. */
export const TILES_PER_SIDE = 4;

function sse(a: Float32Array, b: Uint8Array, offset: number, n: number, stopAbove: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = a[i] - byteToUnit(b[offset + i]);
    s += d * d;
    // Early exit once this candidate cannot win: keeps the 10k-thumbnail scan cheap.
    if (s > stopAbove) return s;
  }
  return s;
}

/** RMSE, cosine and tiled RMSE of `a` (HWC float, side `size`) against image `index` of `bytes`. */
export function compareToStored(
  a: Float32Array,
  bytes: Uint8Array,
  index: number,
  size: number,
): Omit<ReplicationScore, 'index' | 'memorized' | 'resolution'> {
  const n = size * size * 3;
  const offset = index * n;
  const tile = size / TILES_PER_SIDE;
  if (!Number.isInteger(tile)) throw new RangeError(`image size ${size} is not divisible into ${TILES_PER_SIDE} tiles`);
  const tileSse = new Float64Array(TILES_PER_SIDE * TILES_PER_SIDE);
  let total = 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let y = 0; y < size; y++) {
    const rowTile = ((y / tile) | 0) * TILES_PER_SIDE;
    for (let x = 0; x < size; x++) {
      const t = rowTile + ((x / tile) | 0);
      for (let c = 0; c < 3; c++) {
        const i = (y * size + x) * 3 + c;
        const va = a[i];
        const vb = byteToUnit(bytes[offset + i]);
        const d = va - vb;
        tileSse[t] += d * d;
        total += d * d;
        dot += va * vb;
        na += va * va;
        nb += vb * vb;
      }
    }
  }
  let worst = 0;
  for (const s of tileSse) worst = Math.max(worst, s);
  const denom = Math.sqrt(na * nb);
  return {
    l2: Math.sqrt(total / n),
    cosine: denom > 0 ? dot / denom : 0,
    tiledL2: Math.sqrt(worst / (tile * tile * 3)),
  };
}

/** Nearest memorized image at full resolution. */
export function nearestMemorizedImage(image: ImageData3, train: TrainIndex): ReplicationScore {
  return nearestMemorizedHwc(toUnitHwc(image, train.size, train.size), train);
}

function nearestMemorizedHwc(hwc: Float32Array, train: TrainIndex): ReplicationScore {
  if (train.memorizedCount < 1) throw new RangeError('the train index has no memorized images');
  const n = train.size * train.size * 3;
  let best = 0;
  let bestSse = Infinity;
  for (let k = 0; k < train.memorizedCount; k++) {
    const s = sse(hwc, train.memorized, k * n, n, bestSse);
    if (s < bestSse) {
      bestSse = s;
      best = k;
    }
  }
  return {
    index: best,
    memorized: true,
    resolution: 'full',
    ...compareToStored(hwc, train.memorized, best, train.size),
  };
}

/** Nearest non-memorized training image, compared at thumbnail resolution (null if there is none). */
export function nearestSceneImage(image: ImageData3, train: TrainIndex): ReplicationScore | null {
  return nearestSceneHwc(toUnitHwc(image, train.size, train.size), train);
}

function nearestSceneHwc(hwc: Float32Array, train: TrainIndex): ReplicationScore | null {
  const thumb = thumbnailHwc(hwc, train.size, train.thumbSize);
  const tn = train.thumbSize * train.thumbSize * 3;
  let best = -1;
  let bestSse = Infinity;
  for (let k = train.memorizedCount; k < train.count; k++) {
    const s = sse(thumb, train.thumbnails, k * tn, tn, bestSse);
    if (s < bestSse) {
      bestSse = s;
      best = k;
    }
  }
  if (best < 0) return null;
  return {
    index: best,
    memorized: false,
    resolution: 'thumbnail',
    ...compareToStored(thumb, train.thumbnails, best, train.thumbSize),
  };
}

export interface NeighbourRatio {
  /** index of the nearest training image (any kind) in the thumbnail index */
  index: number;
  memorized: boolean;
  /** RMSE to the nearest thumbnail, and the mean RMSE to the next `k` */
  nearest: number;
  nextMean: number;
  /** nearest / nextMean: near 0 for a copy of one image, near 1 for an image like many */
  ratio: number;
}

/**
 * Carlini et al.'s normalised distance, at thumbnail resolution over every training image: the
 * distance to the nearest image divided by the mean distance to the next k. A generation that
 * merely looks like the training distribution (a red circle among thousands of red circles) has
 * many neighbours at similar distances, so its ratio stays near 1; a copy of one image stands
 * apart from all others. This is what separates copying from generalising in a dense data set.
 */
export function neighbourRatio(image: ImageData3, train: TrainIndex, k = 10): NeighbourRatio {
  if (train.count < k + 1) throw new RangeError(`the neighbour ratio needs at least ${k + 1} training images`);
  const hwc = toUnitHwc(image, train.size, train.size);
  const thumb = thumbnailHwc(hwc, train.size, train.thumbSize);
  const tn = train.thumbSize * train.thumbSize * 3;
  // keep the k + 1 smallest squared distances, ascending
  const best = new Float64Array(k + 1).fill(Infinity);
  const bestIndex = new Int32Array(k + 1).fill(-1);
  for (let i = 0; i < train.count; i++) {
    const d = sse(thumb, train.thumbnails, i * tn, tn, best[k]);
    if (d >= best[k]) continue;
    let j = k;
    while (j > 0 && best[j - 1] > d) {
      best[j] = best[j - 1];
      bestIndex[j] = bestIndex[j - 1];
      j--;
    }
    best[j] = d;
    bestIndex[j] = i;
  }
  const rmse = (s: number) => Math.sqrt(s / tn);
  let next = 0;
  for (let j = 1; j <= k; j++) next += rmse(best[j]);
  const nextMean = next / k;
  const nearest = rmse(best[0]);
  return {
    index: bestIndex[0],
    memorized: bestIndex[0] < train.memorizedCount,
    nearest,
    nextMean,
    ratio: nextMean > 0 ? nearest / nextMean : 0,
  };
}

/**
 * Nearest training image: memorized images compared at full resolution, all others at thumbnail
 * resolution (see the file comment); whichever has the smaller RMSE wins, and its metrics are
 * reported at the resolution it was compared at.
 */
export function nearestTrainingImage(image: ImageData3, train: TrainIndex): ReplicationScore {
  const hwc = toUnitHwc(image, train.size, train.size);
  const scene = nearestSceneHwc(hwc, train);
  const memorized = train.memorizedCount > 0 ? nearestMemorizedHwc(hwc, train) : null;
  if (memorized && (!scene || memorized.l2 <= scene.l2)) return memorized;
  if (!scene) throw new RangeError('the train index is empty');
  return scene;
}

export type ReplicationMeasure = 'tiledL2' | 'l2' | 'cosine';

/** Whether a score counts as a replication: distances below the threshold, cosine above it. */
export function isReplication(score: ReplicationScore, threshold: number, by: ReplicationMeasure = 'tiledL2'): boolean {
  return by === 'cosine' ? score.cosine > threshold : score[by] < threshold;
}

/** Share of generations that replicate a training image (0 for no scores). */
export function replicationRate(
  scores: readonly ReplicationScore[],
  threshold: number,
  by: ReplicationMeasure = 'tiledL2',
): number {
  if (scores.length === 0) return 0;
  let k = 0;
  for (const s of scores) if (isReplication(s, threshold, by)) k++;
  return k / scores.length;
}

/**
 * A replication threshold calibrated on generations from neutral prompts (which should not copy
 * anything): the threshold at which at most `quantile` of the neutral generations count as
 * replications, i.e. `quantile` is the false-positive rate you accept (0.01 = 1%). With ties the
 * realised rate is lower, never higher. For distances it is the value at position
 * floor(quantile * n) of the ascending neutral distances (flagged: strictly below it); for cosine
 * the same position of the descending similarities (flagged: strictly above it).
 */
export function calibrateThreshold(
  neutral: readonly ReplicationScore[],
  quantile: number,
  by: ReplicationMeasure = 'tiledL2',
): number {
  if (neutral.length === 0) throw new RangeError('calibration needs at least one neutral score');
  if (!(quantile >= 0 && quantile < 1)) throw new RangeError('quantile must be in [0, 1)');
  const values = neutral.map((s) => s[by]);
  values.sort(by === 'cosine' ? (a, b) => b - a : (a, b) => a - b);
  return values[Math.floor(quantile * values.length)];
}

/**
 * The lab's "copy" decision, shared by the model verification, the evaluation and the variant
 * table. Two rules, both calibrated on ordinary generations (training-scene captions, which copy
 * nothing) so that at most a chosen share of those count as copies:
 *
 *   embedding  (when the model ships a copy detector, copy-detection.ts) the most similar training
 *              image by the detector's cosine is a planted one, and more similar than tau. Sees
 *              recoloured and brightened copies as copies.
 *   ratio      Carlini et al.'s normalised distance over every training image (neighbourRatio)
 *              below alpha, with the nearest training image a planted one. Kept as a second column
 *              so the change is visible, and the rule for models without a detector.
 *
 * The tiled L2 to the nearest planted image rides along for reporting. A fixed distance threshold
 * was tried first and is wrong here: calibrated on neutral scenes (which never come near an
 * artwork) it lands near 0.74 tiled L2 and counts visibly different images as copies.
 */
export interface CopyScore {
  /** position of the nearest training image in the thumbnail index (planted images first) */
  nearest: number;
  planted: boolean;
  ratio: number;
  /** tiled L2 to the nearest planted image (full resolution) */
  tiledL2: number;
  /** the copy detector's match, when the model has one */
  embedding?: EmbeddingMatch;
}

/** The training images a generation is compared with, and (optionally) the model's copy detector. */
export type CopyReference = TrainIndex & { detector?: CopyDetector };

/** The ratio rule's score of one image (synchronous; no detector). */
export function copyScore(image: ImageData3, train: TrainIndex): CopyScore {
  const r = neighbourRatio(image, train);
  return {
    nearest: r.index,
    planted: r.memorized,
    ratio: r.ratio,
    tiledL2: nearestMemorizedImage(image, train).tiledL2,
  };
}

/** Both rules' scores of many images (the detector embeds them in batches). */
export async function copyScores(images: readonly ImageData3[], reference: CopyReference): Promise<CopyScore[]> {
  const scores = images.map((img) => copyScore(img, reference));
  if (reference.detector) {
    const matches = await matchImages(
      reference.detector,
      images.map((img) => asRgbImage(img, reference.size)),
    );
    matches.forEach((m, i) => {
      scores[i].embedding = m;
    });
  }
  return scores;
}

/** alpha: the value at position floor(quantile * n) of the ascending ratios of ordinary generations (copies: strictly below). */
export function calibrateAlpha(ordinary: readonly { ratio: number }[], quantile: number): number {
  if (ordinary.length === 0) throw new RangeError('calibration needs at least one generation');
  if (!(quantile >= 0 && quantile < 1)) throw new RangeError('quantile must be in [0, 1)');
  const values = ordinary.map((s) => s.ratio).sort((a, b) => a - b);
  return values[Math.floor(quantile * values.length)];
}

export type CopyRule = 'embedding' | 'ratio';

/** Both rules' thresholds, from the same ordinary generations. */
export interface CopyThresholds {
  /** the rule whose verdict counts (embedding when there is a detector) */
  rule: CopyRule;
  alpha: number;
  /** null without a copy detector */
  tau: number | null;
  quantile: number;
  samples: number;
  /** the detector's name, when there is one */
  detector: string | null;
}

export function calibrateCopyRules(
  ordinary: readonly CopyScore[],
  quantile: number,
  detector?: { id: string } | null,
): CopyThresholds {
  const matches = ordinary.map((s) => s.embedding);
  const embedded = matches.length > 0 && matches.every((m) => m !== undefined);
  if (detector && !embedded) throw new Error('the calibration generations were scored without the copy detector');
  const tau = detector ? calibrateSimilarity(matches as EmbeddingMatch[], quantile) : null;
  return {
    rule: tau === null ? 'ratio' : 'embedding',
    alpha: calibrateAlpha(ordinary, quantile),
    tau,
    quantile,
    samples: ordinary.length,
    detector: detector?.id ?? null,
  };
}

/** The ratio rule: nearest thumbnail a planted image, distance ratio below alpha. */
export function isRatioCopy(s: { planted: boolean; ratio: number }, alpha: number): boolean {
  return s.planted && s.ratio < alpha;
}

/** Which planted image (index) a generation copies by one rule, or -1 for none. */
export function copiedImage(s: CopyScore, t: CopyThresholds, rule: CopyRule = t.rule): number {
  if (rule === 'ratio') return isRatioCopy(s, t.alpha) ? s.nearest : -1;
  if (t.tau === null || !s.embedding) throw new Error('the embedding rule needs a copy detector and its threshold');
  return isEmbeddingCopy(s.embedding, t.tau) ? s.embedding.planted : -1;
}

/** The verdict of the rule that counts (or of the one asked for). */
export function isCopy(s: CopyScore, t: CopyThresholds, rule: CopyRule = t.rule): boolean {
  return copiedImage(s, t, rule) >= 0;
}
