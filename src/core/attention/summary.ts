/**
 * Per-layer summaries of cross-attention (Ren et al.: memorized prompts concentrate attention on a
 * few tokens, so entropy over tokens drops and mass shifts to/from the start token).
 * Same layouts as heatmap.ts. DOM-free.
 */
import { layerAttention, type AttentionSteps, type LayerAttention, type LayerGeometry } from './heatmap';

export interface LayerSummary {
  /** entropy over tokens in nats, averaged over heads and pixels */
  entropy: number;
  /** entropy / ln(tokens): 0 = all on one token, 1 = uniform */
  normalizedEntropy: number;
  /** mean probability on the start token (<bos>), over heads and pixels */
  bosMass: number;
  /** mean probability on each token, over heads and pixels: [tokens] */
  tokenMass: Float32Array;
}

/** Summarise one layer at one step. `bos` is the start token's position (0 in this model). */
export function summarizeLayer(a: LayerAttention, bos = 0): LayerSummary {
  const pixels = a.resolution * a.resolution;
  const rows = a.heads * pixels;
  const tokenMass = new Float32Array(a.tokens);
  let entropy = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * a.tokens;
    let h = 0;
    for (let t = 0; t < a.tokens; t++) {
      const p = a.data[base + t];
      tokenMass[t] += p;
      // 0 log 0 = 0 by continuity; negatives would be a capture bug, so they count as 0 too.
      if (p > 0) h -= p * Math.log(p);
    }
    entropy += h;
  }
  for (let t = 0; t < a.tokens; t++) tokenMass[t] /= rows;
  entropy /= rows;
  return {
    entropy,
    normalizedEntropy: a.tokens > 1 ? entropy / Math.log(a.tokens) : 0,
    bosMass: tokenMass[bos] ?? 0,
    tokenMass,
  };
}

/** Per step, per layer summaries: result[step][layer]. For a line view over steps. */
export function summarizeSteps(
  steps: AttentionSteps,
  layers: readonly LayerGeometry[],
  tokens: number,
  bos = 0,
): LayerSummary[][] {
  return steps.map((step) => layers.map((g, l) => summarizeLayer(layerAttention(step[l], g, tokens), bos)));
}

/** Per layer summaries averaged over the chosen steps (all by default). For a bar view. */
export function summarizeLayers(
  steps: AttentionSteps,
  layers: readonly LayerGeometry[],
  tokens: number,
  options: { steps?: readonly number[]; bos?: number } = {},
): LayerSummary[] {
  const chosen = options.steps ?? steps.map((_, i) => i);
  if (chosen.length === 0) throw new Error('no steps chosen to summarise');
  return layers.map((g, l) => {
    const acc: LayerSummary = { entropy: 0, normalizedEntropy: 0, bosMass: 0, tokenMass: new Float32Array(tokens) };
    for (const s of chosen) {
      if (!steps[s]) throw new Error(`step ${s} was not captured (have ${steps.length})`);
      const one = summarizeLayer(layerAttention(steps[s][l], g, tokens), options.bos ?? 0);
      acc.entropy += one.entropy;
      acc.normalizedEntropy += one.normalizedEntropy;
      acc.bosMass += one.bosMass;
      for (let t = 0; t < tokens; t++) acc.tokenMass[t] += one.tokenMass[t];
    }
    const n = chosen.length;
    acc.entropy /= n;
    acc.normalizedEntropy /= n;
    acc.bosMass /= n;
    for (let t = 0; t < tokens; t++) acc.tokenMass[t] /= n;
    return acc;
  });
}

/**
 * Mean attention of each head on a set of tokens (summed over the set), averaged over pixels and
 * the chosen steps: result[layer * heads + head], reading order of the head grid.
 * The simple "which heads look at the trigger word" score.
 */
export function headTokenMass(
  steps: AttentionSteps,
  layers: readonly LayerGeometry[],
  tokens: number,
  which: readonly number[],
  options: { steps?: readonly number[] } = {},
): Float32Array {
  const chosen = options.steps ?? steps.map((_, i) => i);
  const offsets: number[] = [];
  let total = 0;
  for (const g of layers) {
    offsets.push(total);
    total += g.heads;
  }
  const out = new Float32Array(total);
  if (chosen.length === 0) return out;
  for (const s of chosen) {
    layers.forEach((g, l) => {
      const a = layerAttention(steps[s][l], g, tokens);
      const pixels = g.resolution * g.resolution;
      for (let h = 0; h < g.heads; h++) {
        let m = 0;
        const base = h * pixels * tokens;
        for (let p = 0; p < pixels; p++) for (const t of which) m += a.data[base + p * tokens + t];
        out[offsets[l] + h] += m / pixels;
      }
    });
  }
  for (let i = 0; i < total; i++) out[i] /= chosen.length;
  return out;
}
