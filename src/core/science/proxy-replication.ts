/**
 * Replication on a model that brings no training images, once the user gives some: the memorized
 * prompts that have a reference image (the training image they may copy, matched by
 * prompts/references.ts) are scored the way the field scores Stable Diffusion (Webster; Carlini et
 * al.; Somepalli et al.): a generation is a copy when the similarity of its embedding to its
 * prompt's reference image, by an ImageEncoder (the pixel default or the user's ONNX embedder), is
 * above a threshold calibrated on ordinary generations. Every rate carries its 95% Wilson interval.
 *
 * The threshold: each ordinary generation (the unpruned model's images for the evaluation-half
 * neutral prompts, which should copy nothing) is compared with every reference, and its nearest
 * similarity is what a false alarm would look like. The threshold is the value at the accepted
 * false-positive rate of those (calibrateSimilarityThreshold at the evaluation's calibrationQuantile,
 * the organism's rule: 1% by default, which is the maximum whenever there are fewer than 100
 * ordinary generations, as in every run small enough for one machine), so no more than that share
 * of ordinary generations would count as copies. It is never set below the encoder's own
 * convention (SSCD 0.5, the pixel default's 0.9): a handful of ordinary generations can all lie far
 * from the references, and a threshold calibrated on them alone would call loose resemblance a
 * copy where the embedding's users would not.
 */
import { type ImageEncoder, type RgbImage, calibrateSimilarityThreshold, cosineSimilarity } from '../metrics/embedding';
import type { ReferenceImage } from '../metrics/reference-replication';
import { type RateEstimate, rateEstimate } from '../metrics/wilson';
import type { ReferenceRule } from '../prompts/references';

/** The reference images of a study, found by the caller (files read and matched to prompts). */
export interface StudyReferences {
  encoder: ImageEncoder;
  /** a memorized caption's reference image and the rule that matched it */
  byCaption: ReadonlyMap<string, { image: ReferenceImage; by: ReferenceRule }>;
  /** one line per memorized set on how its prompts were matched (matchReferenceImages' summary) */
  summaries: string[];
  /** reference files that could not be read, with why */
  unreadable?: { file: string; reason: string }[];
}

export interface ReferenceCoverage {
  /** memorized prompts evaluated */
  prompts: number;
  /** of them, those with a reference image: the prompts replication is measured on */
  withReference: number;
  /** how many were matched by each rule */
  byRule: Record<ReferenceRule, number>;
  /** captions of the evaluated memorized prompts without a reference (they keep the proxies only) */
  missing: string[];
  summaries: string[];
  unreadable: { file: string; reason: string }[];
}

export interface ReplicationCalibration {
  /** similarity strictly above which a generation copies its reference */
  threshold: number;
  /** the quantile value of the ordinary generations' nearest similarities */
  calibrated: number;
  /** the encoder's conventional threshold, the floor (null: it has none) */
  conventional: number | null;
  quantile: number;
  /** ordinary generations calibrated on */
  samples: number;
  /** the highest nearest similarity of an ordinary generation */
  ordinaryMax: number;
}

export interface MeasuredReplication {
  measured: true;
  /** in words: what was measured, on how many prompts (shown where an unmeasured report says why not) */
  reason: string;
  /** the rule, in words */
  rule: string;
  encoder: string;
  description: string;
  calibration: ReplicationCalibration;
  references: ReferenceCoverage;
}

/** The sentence a reader sees first about measured replication. */
export function measuredReplicationReason(c: ReferenceCoverage, cal: ReplicationCalibration, encoder: string): string {
  const rules = Object.entries(c.byRule)
    .filter(([, n]) => n > 0)
    .map(([rule, n]) => `${n} by ${rule}`)
    .join(', ');
  const missing = c.missing.length
    ? ` The other ${c.missing.length} have no reference image and are measured by the proxies only.`
    : '';
  return `Replication measured on the ${c.withReference} of ${c.prompts} memorized prompts with a reference image (matched ${rules}): ${REPLICATION_RULE} (${encoder}, similarity > ${cal.threshold.toFixed(3)}, calibrated on ${cal.samples} ordinary generations).${missing}`;
}

/** One condition's replication: the share of generations copying their own reference, and of those close to any. */
export interface ConditionReplication extends RateEstimate {
  /** similarity above the threshold to some reference (Somepalli et al.'s nearest-match rule) */
  anyReference: RateEstimate;
  /** mean similarity of a generation to its own reference */
  meanSimilarity: number;
}

export const REPLICATION_RULE =
  "a generation copies when its embedding's cosine similarity to its prompt's reference image is above the threshold";

export function referenceCoverage(references: StudyReferences, memorized: readonly string[]): ReferenceCoverage {
  const byRule: Record<ReferenceRule, number> = { index: 0, 'file name': 0, position: 0 };
  const missing: string[] = [];
  let withReference = 0;
  for (const caption of memorized) {
    const r = references.byCaption.get(caption);
    if (!r) {
      missing.push(caption);
      continue;
    }
    withReference++;
    byRule[r.by]++;
  }
  return {
    prompts: memorized.length,
    withReference,
    byRule,
    missing,
    summaries: references.summaries,
    unreadable: references.unreadable ?? [],
  };
}

/** The references' embeddings, once each (several captions may share a file). */
export interface EmbeddedStudyReferences {
  vectors: Float32Array[];
  /** caption -> row of vectors */
  rowOf: Map<string, number>;
}

export async function embedStudyReferences(references: StudyReferences): Promise<EmbeddedStudyReferences> {
  const ids: string[] = [];
  const images: RgbImage[] = [];
  const rowOf = new Map<string, number>();
  const rowOfId = new Map<string, number>();
  for (const [caption, { image }] of references.byCaption) {
    let row = rowOfId.get(image.id);
    if (row === undefined) {
      row = ids.push(image.id) - 1;
      images.push(image.image);
      rowOfId.set(image.id, row);
    }
    rowOf.set(caption, row);
  }
  const vectors = images.length ? await references.encoder.embed(images) : [];
  if (vectors.length !== images.length)
    throw new Error(`${references.encoder.id} returned ${vectors.length} embeddings for ${images.length} images`);
  return { vectors, rowOf };
}

const nearestSimilarity = (v: Float32Array, refs: EmbeddedStudyReferences) =>
  refs.vectors.reduce((best, r) => Math.max(best, cosineSimilarity(v, r)), Number.NEGATIVE_INFINITY);

/** The threshold from ordinary generations; see the file comment for the rule and why. */
export async function calibrateReplication(
  encoder: ImageEncoder,
  refs: EmbeddedStudyReferences,
  ordinary: readonly RgbImage[],
  quantile: number,
): Promise<ReplicationCalibration> {
  if (ordinary.length === 0) throw new RangeError('calibrating replication needs ordinary generations');
  const nearest = (await encoder.embed(ordinary)).map((v) => nearestSimilarity(v, refs));
  const calibrated = calibrateSimilarityThreshold(nearest, quantile);
  const conventional = encoder.threshold ?? null;
  return {
    threshold: conventional === null ? calibrated : Math.max(calibrated, conventional),
    calibrated,
    conventional,
    quantile,
    samples: nearest.length,
    ordinaryMax: Math.max(...nearest),
  };
}

/** Per-generation verdicts of one set of generations, each with its prompt's caption (which has a reference). */
export interface ReplicationCounts {
  copies: number;
  anyCopies: number;
  total: number;
  similarities: number[];
}

export async function countReplications(
  encoder: ImageEncoder,
  refs: EmbeddedStudyReferences,
  generations: readonly { caption: string; image: RgbImage }[],
  threshold: number,
): Promise<ReplicationCounts> {
  const vectors = generations.length ? await encoder.embed(generations.map((g) => g.image)) : [];
  let copies = 0;
  let anyCopies = 0;
  const similarities = generations.map((g, i) => {
    const row = refs.rowOf.get(g.caption);
    if (row === undefined) throw new RangeError(`"${g.caption}" has no reference image`);
    const s = cosineSimilarity(vectors[i], refs.vectors[row]);
    if (s > threshold) copies++;
    if (nearestSimilarity(vectors[i], refs) > threshold) anyCopies++;
    return s;
  });
  return { copies, anyCopies, total: generations.length, similarities };
}

/** Counts (summed over random draws when there are several) as rates with their intervals. */
export function conditionReplication(counts: readonly ReplicationCounts[]): ConditionReplication {
  const sum = (f: (c: ReplicationCounts) => number) => counts.reduce((s, c) => s + f(c), 0);
  const total = sum((c) => c.total);
  const all = counts.flatMap((c) => c.similarities);
  return {
    ...rateEstimate(
      sum((c) => c.copies),
      total,
    ),
    anyReference: rateEstimate(
      sum((c) => c.anyCopies),
      total,
    ),
    meanSimilarity: all.length ? all.reduce((s, v) => s + v, 0) / all.length : Number.NaN,
  };
}
