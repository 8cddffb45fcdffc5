/**
 * The analysis worker's computations, DOM-free so they are unit-tested in Node: scores per image
 * (Wen's memorization score, the nearest training image, the difference from the baseline) and the
 * heatmap payload for one focus (DAAM map, per-layer map, head scores, per-layer summaries).
 */
import { daamMap, headMeanMap, layerAttention, tokenMap, type AttentionSteps } from '../core/attention/heatmap';
import { headTokenMass, summarizeLayers } from '../core/attention/summary';
import type { Manifest } from '../core/manifest';
import { noiseGapScore } from '../core/metrics/detection';
import { nearestTrainingImage, type ReplicationScore, type TrainIndex } from '../core/metrics/replication';
import type { LayerSeries, MapFocus, VariantInput, VariantScores } from './analysis-protocol';
import type { RgbaImage } from './protocol';

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

/** One variant's conditional attention per step and layer, out of [step][layer][variant]. */
export function variantSteps(
  attention: readonly (readonly (readonly Float32Array[])[])[],
  variant: number,
): AttentionSteps {
  return attention.map((step) =>
    step.map((layer) => {
      const a = layer[variant];
      if (!a) throw new RangeError(`variant ${variant} has no attention`);
      return a;
    }),
  );
}

export interface MapsPayload {
  daam: Float32Array;
  layerMap: Float32Array;
  layerResolution: number;
  headScores: Float32Array;
  series: LayerSeries;
  tokenWeights: Float32Array;
  steps: number;
}

/** The focused layer's map for one head (or the mean of heads), at one step or averaged over all. */
function focusedLayerMap(manifest: Manifest, steps: AttentionSteps, focus: MapFocus): Float32Array {
  const geom = manifest.unet.layers[focus.layer];
  if (!geom) throw new RangeError(`layer ${focus.layer} is not a layer of this model`);
  const T = manifest.text.maxTokens;
  const chosen = focus.step === 'all' ? steps.map((_, i) => i) : [focus.step];
  const out = new Float32Array(geom.resolution * geom.resolution);
  const one = new Float32Array(out.length);
  for (const s of chosen) {
    if (!steps[s]) throw new RangeError(`step ${s} was not captured (have ${steps.length})`);
    const a = layerAttention(steps[s][focus.layer], geom, T);
    if (focus.head === 'mean') headMeanMap(a, focus.token, one);
    else tokenMap(a, focus.head, focus.token, one);
    for (let p = 0; p < out.length; p++) out[p] += one[p] / chosen.length;
  }
  return out;
}

/**
 * Everything the heatmap panels draw for one focus. Head scores always come from variant 0 (the
 * unpruned run), so the grid's colours do not shift as heads are pruned.
 */
export function computeMaps(
  manifest: Manifest,
  attention: readonly (readonly (readonly Float32Array[])[])[],
  focus: MapFocus,
): MapsPayload {
  const layers = manifest.unet.layers;
  const T = manifest.text.maxTokens;
  const { width, height } = manifest.image;
  if (!(Number.isInteger(focus.token) && focus.token >= 0 && focus.token < T))
    throw new RangeError(`token ${focus.token} is outside 0..${T - 1}`);
  const steps = variantSteps(attention, focus.variant);
  const baseline = focus.variant === 0 ? steps : variantSteps(attention, 0);
  const summaries = summarizeLayers(steps, layers, T);
  const tokenWeights = new Float32Array(T);
  for (const s of summaries) for (let t = 0; t < T; t++) tokenWeights[t] += s.tokenMass[t] / summaries.length;
  return {
    daam: daamMap(steps, layers, T, focus.token, { width, height }),
    layerMap: focusedLayerMap(manifest, steps, focus),
    layerResolution: layers[focus.layer].resolution,
    headScores: headTokenMass(baseline, layers, T, [focus.token]),
    series: {
      entropy: summaries.map((s) => s.normalizedEntropy),
      bos: summaries.map((s) => s.bosMass),
      token: summaries.map((s) => s.tokenMass[focus.token] ?? 0),
    },
    tokenWeights,
    steps: steps.length,
  };
}
