/**
 * NeMo (Hintersdorf et al., NeurIPS 2024): find the cross-attention value neurons that carry a
 * memorized prompt, by how unusually they fire for it compared with neutral prompts.
 *
 *   activation  a_j = mean over the prompt's (non-padding) tokens of |to_v(e)|_j, per layer
 *   z-score     z_j = |a_j - mu_j| / sigma_j, mu and sigma over neutral prompts
 *   search      prune {j : z_j > theta}, lowering theta until the memorization signal (seed
 *               consistency of the first-step noise difference, detection.ts) falls below the
 *               target (the neutral mean + 1 std)
 *   refinement  re-enable whole layers that are not needed, then single neurons that are not needed
 *
 * The search and refinement take a callback that measures the signal for a candidate set of
 * pruned neurons, so the model runs live in the worker and this file stays pure.
 *
 * Indices are flat: layer * width + neuron, the same order as the cross_attn_value_mask input
 * ([layers, width]) and as Experiment.masks.
 */

export interface ValueShape {
  layers: number;
  tokens: number;
  width: number;
}

/**
 * Per-neuron activation for one prompt from the UNet's cross_attn_values output for that prompt's
 * conditional row, float32 [layers, tokens, width]: the mean over included tokens (mask non-zero;
 * all tokens when no mask) of the absolute value. Result: float32 [layers * width].
 */
export function valueActivations(
  values: Float32Array,
  shape: ValueShape,
  tokenMask?: ArrayLike<number | boolean>,
  out?: Float32Array,
): Float32Array {
  const { layers, tokens, width } = shape;
  if (values.length !== layers * tokens * width)
    throw new RangeError(`values have ${values.length} entries, expected ${layers} x ${tokens} x ${width}`);
  if (tokenMask && tokenMask.length !== tokens) throw new RangeError('token mask length differs from the token count');
  const a = out ?? new Float32Array(layers * width);
  if (a.length !== layers * width) throw new RangeError('output has the wrong size');
  let count = 0;
  for (let t = 0; t < tokens; t++) if (!tokenMask || tokenMask[t]) count++;
  if (count === 0) throw new RangeError('no tokens to average over');
  for (let l = 0; l < layers; l++) {
    for (let j = 0; j < width; j++) {
      let s = 0;
      for (let t = 0; t < tokens; t++)
        if (!tokenMask || tokenMask[t]) s += Math.abs(values[(l * tokens + t) * width + j]);
      a[l * width + j] = s / count;
    }
  }
  return a;
}

export interface NeutralStatistics {
  mean: Float64Array;
  /** sample standard deviation (n - 1); 0 with a single prompt */
  std: Float64Array;
  count: number;
}

/** Mean and standard deviation of each neuron's activation over neutral prompts. */
export function neutralStatistics(activations: readonly Float32Array[]): NeutralStatistics {
  const n = activations.length;
  if (n === 0) throw new RangeError('need at least one neutral prompt');
  const size = activations[0].length;
  const mean = new Float64Array(size);
  const std = new Float64Array(size);
  for (const a of activations) {
    if (a.length !== size) throw new RangeError('activation vectors differ in size');
    for (let j = 0; j < size; j++) mean[j] += a[j];
  }
  for (let j = 0; j < size; j++) mean[j] /= n;
  if (n > 1) {
    for (const a of activations) for (let j = 0; j < size; j++) std[j] += (a[j] - mean[j]) ** 2;
    for (let j = 0; j < size; j++) std[j] = Math.sqrt(std[j] / (n - 1));
  }
  return { mean, std, count: n };
}

/** z_j = |a_j - mu_j| / max(sigma_j, minStd); minStd keeps dead neurons (sigma 0) finite. */
export function zScores(
  activation: ArrayLike<number>,
  stats: NeutralStatistics,
  minStd = 1e-6,
  out?: Float64Array,
): Float64Array {
  if (activation.length !== stats.mean.length) throw new RangeError('activation and statistics differ in size');
  const z = out ?? new Float64Array(activation.length);
  for (let j = 0; j < activation.length; j++)
    z[j] = Math.abs(activation[j] - stats.mean[j]) / Math.max(stats.std[j], minStd);
  return z;
}

/** Flat indices with z > theta, ascending. */
export function selectOutliers(z: ArrayLike<number>, theta: number): number[] {
  const out: number[] = [];
  for (let j = 0; j < z.length; j++) if (z[j] > theta) out.push(j);
  return out;
}

export type SignalMeasure = (pruned: readonly number[]) => number | Promise<number>;

export interface NemoSearchOptions {
  /** z-scores of the prompt's value neurons (flat, layer * width + neuron) */
  z: ArrayLike<number>;
  /** neurons per layer (the mask's `units`), to group neurons by layer for refinement */
  width: number;
  /** memorization signal with these neurons pruned; lower means less memorized */
  measure: SignalMeasure;
  /** memorization counts as mitigated when the signal is below this (NeMo: neutral mean + 1 std) */
  target: number;
  /** starting threshold and how far to lower it each time (defaults 5 and 0.25) */
  thetaStart?: number;
  thetaStep?: number;
  /** stop lowering here (default 0.5: below that almost every neuron is an "outlier") */
  thetaMin?: number;
  /** upper bound on calls to measure (default unlimited) */
  maxEvaluations?: number;
}

export interface NemoTraceEntry {
  stage: 'unpruned' | 'threshold' | 'layer' | 'neuron';
  /** theta for threshold steps, layer index for layer steps, neuron index for neuron steps */
  at: number;
  pruned: number;
  signal: number;
  accepted: boolean;
}

export interface NemoResult {
  /** true when some pruned set brought the signal below the target */
  found: boolean;
  /** the threshold that first mitigated memorization (or the last one tried) */
  theta: number;
  /** neurons selected by the threshold search */
  initial: number[];
  /** after refinement (equals initial when nothing was found) */
  refined: number[];
  /** the signal with `refined` pruned */
  signal: number;
  evaluations: number;
  trace: NemoTraceEntry[];
}

/**
 * NeMo's localisation for one prompt. Order of refinement: layers in index order, then neurons
 * from the least to the most outlying (the weakest candidates are the likeliest to be unneeded).
 * A neuron or layer is dropped from the set only if the signal stays below the target without it.
 */
export async function nemoSearch(options: NemoSearchOptions): Promise<NemoResult> {
  const { z, width, measure, target } = options;
  const thetaStart = options.thetaStart ?? 5;
  const thetaStep = options.thetaStep ?? 0.25;
  const thetaMin = options.thetaMin ?? 0.5;
  const budget = options.maxEvaluations ?? Infinity;
  if (!(thetaStep > 0)) throw new RangeError('thetaStep must be positive');
  if (!(width > 0) || z.length % width !== 0) throw new RangeError('z must hold whole layers of `width` neurons');
  const trace: NemoTraceEntry[] = [];
  let evaluations = 0;
  const run = async (pruned: readonly number[]) => {
    evaluations++;
    return measure(pruned);
  };

  const unpruned = await run([]);
  trace.push({ stage: 'unpruned', at: 0, pruned: 0, signal: unpruned, accepted: unpruned < target });
  if (unpruned < target) {
    return { found: true, theta: Infinity, initial: [], refined: [], signal: unpruned, evaluations, trace };
  }

  let theta = thetaStart;
  let initial: number[] = [];
  let signal = unpruned;
  let found = false;
  for (; theta >= thetaMin - 1e-12 && evaluations < budget; theta -= thetaStep) {
    const candidate = selectOutliers(z, theta);
    if (candidate.length === 0 || candidate.length === initial.length) continue; // same set as before: nothing to measure
    initial = candidate;
    signal = await run(candidate);
    found = signal < target;
    trace.push({ stage: 'threshold', at: theta, pruned: candidate.length, signal, accepted: found });
    if (found) break;
  }
  if (!found) {
    return { found, theta: Math.max(theta, thetaMin), initial, refined: initial, signal, evaluations, trace };
  }

  let current = initial;
  const layers = [...new Set(current.map((j) => Math.floor(j / width)))];
  for (const layer of layers) {
    if (evaluations >= budget) break;
    const without = current.filter((j) => Math.floor(j / width) !== layer);
    if (without.length === current.length) continue;
    const s = await run(without);
    const ok = s < target;
    trace.push({ stage: 'layer', at: layer, pruned: without.length, signal: s, accepted: ok });
    if (ok) {
      current = without;
      signal = s;
    }
  }
  const byWeakness = current.slice().sort((a, b) => z[a] - z[b] || a - b);
  for (const neuron of byWeakness) {
    if (evaluations >= budget) break;
    if (current.length === 1) break; // without it nothing is pruned: the unpruned signal, known to be too high
    const without = current.filter((j) => j !== neuron);
    const s = await run(without);
    const ok = s < target;
    trace.push({ stage: 'neuron', at: neuron, pruned: without.length, signal: s, accepted: ok });
    if (ok) {
      current = without;
      signal = s;
    }
  }
  return { found, theta, initial, refined: current, signal, evaluations, trace };
}
