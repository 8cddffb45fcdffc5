/**
 * The heatmap payload for one focus of a generation's attention: DAAM map, the focused layer's
 * map, head scores and per-layer summaries. Pure: the analysis worker runs it while the user hovers.
 */
import { daamMap, headMeanMap, layerAttention, tokenMap, type AttentionSteps } from '../attention/heatmap';
import { headTokenMass, summarizeLayers } from '../attention/summary';
import type { Manifest } from '../manifest';

/** What the heatmaps show: which image's attention, which token, layer, head and step. */
export interface MapFocus {
  /** index into the generation's variants */
  variant: number;
  /** token position in the encoded prompt (0 = <bos>) */
  token: number;
  /** layer (manifest.unet.layers index) of the per-layer map */
  layer: number;
  head: number | 'mean';
  /** 0-based captured step of the per-layer map, or the mean over all steps */
  step: number | 'all';
}

export interface LayerSeries {
  /** entropy over tokens / ln T, per layer */
  entropy: number[];
  /** mass on <bos>, per layer */
  bos: number[];
  /** mass on the focused token, per layer */
  token: number[];
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
