/**
 * Localization: which units carry a memorized prompt.
 *
 *   NeMo (per prompt)   value-neuron activations of the prompt vs neutral-prompt statistics give
 *                       z-scores; metrics/nemo.ts nemoSearch lowers the threshold until the seed
 *                       consistency of the first-step noise difference falls below the neutral mean
 *                       + 1 std, then refines. Each measurement is one UNet call (seeds batched).
 *   Ablation            for each unit of one mask input (heads or value neurons), the drop in Wen's
 *                       score when it alone is masked, over memorized minus over neutral prompts
 *                       (metrics/attribution.ts). Every (unit, prompt, seed) is a batch row, so a
 *                       20-head sweep over 40 prompts is a handful of UNet calls.
 *
 * The value activations come from the UNet's value output, which depends on the text only
 * (to_v of the context), so one call of cond rows per chunk of prompts suffices.
 */
import type { Manifest } from '../manifest';
import { seedConsistency } from '../metrics/detection';
import { noiseGapScore } from '../metrics/detection';
import {
  type AblationMeasurements,
  meanScoreDrop,
  relativeChange,
  universalAttribution,
  utilityAwareScores,
} from '../metrics/attribution';
import {
  type NemoResult,
  type NeutralStatistics,
  nemoSearch,
  neutralStatistics,
  valueActivations,
  zScores,
} from '../metrics/nemo';
import { type MaskSet, type PrunedUnit, allOnes } from '../masks';
import {
  type PromptEmbeddings,
  type SampleRow,
  encodePrompts,
  promptsInWords,
  sampleRows,
  unetCallsFor,
} from './batch';
import { type RunContext, throwIfAborted } from './context';
import { type ScienceRunner, samplerOf } from './sampler';
import {
  CROSS_HEAD_KIND,
  VALUE_NEURON_KIND,
  maskSetPruning,
  maskSpecOfKind,
  prunedUnitsOf,
  unitInWords,
} from './units';

/**
 * Per prompt, NeMo's activation a_j = mean over real tokens of |to_v(e)|_j, flat [layers * width],
 * from one UNet call per `maxRows` prompts (cond rows only).
 */
export async function valueActivationsOf(
  runner: ScienceRunner,
  manifest: Manifest,
  embeddings: PromptEmbeddings,
  ctx: RunContext = {},
  maxRows = 64,
): Promise<Float32Array[]> {
  const spec = maskSpecOfKind(manifest, VALUE_NEURON_KIND);
  const sampler = samplerOf(runner, manifest);
  const shape = { layers: spec.layers, tokens: manifest.text.maxTokens, width: spec.units };
  const n = embeddings.prompts.length;
  const out: Float32Array[] = [];
  const total = Math.ceil(n / maxRows);
  for (let start = 0, call = 0; start < n; start += maxRows, call++) {
    throwIfAborted(ctx.signal, 'before a value-activation call');
    const b = Math.min(maxRows, n - start);
    const context = embeddings.cond.slice(start * embeddings.rowSize, (start + b) * embeddings.rowSize);
    const values = await sampler.valueOutputs(context, b);
    const per = shape.layers * shape.tokens * shape.width;
    if (values.length !== b * per) throw new Error(`value output has ${values.length} entries, expected ${b} x ${per}`);
    for (let i = 0; i < b; i++)
      out.push(valueActivations(values.subarray(i * per, (i + 1) * per), shape, embeddings.tokenMasks[start + i]));
    ctx.onProgress?.({ stage: 'value activations', done: call + 1, total });
  }
  return out;
}

/** What NeMo compares a prompt against: neutral activation statistics and the neutral signal. */
export interface NeutralReference {
  prompts: string[];
  seeds: number[];
  activationMean: number[];
  activationStd: number[];
  /** seed consistency (max pairwise SSIM of first-step differences) per neutral prompt */
  signals: number[];
  /** NeMo's target: mean + 1 std of `signals` */
  target: number;
}

/** Mean + 1 sample std: NeMo's memorization threshold from neutral signals. */
export function meanPlusStd(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('no values');
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  if (values.length === 1) return mean;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / (values.length - 1);
  return mean + Math.sqrt(variance);
}

function statisticsOf(ref: NeutralReference): NeutralStatistics {
  return {
    mean: Float64Array.from(ref.activationMean),
    std: Float64Array.from(ref.activationStd),
    count: ref.prompts.length,
  };
}

/**
 * Seed consistency of one prompt under each mask set, all (mask set, seed) rows in as few UNet
 * calls as the batch allows: the first step only, so no guidance is involved.
 */
export async function seedConsistencies(
  runner: ScienceRunner,
  manifest: Manifest,
  embeddings: PromptEmbeddings,
  prompt: number,
  maskSets: readonly MaskSet[],
  seeds: readonly number[],
  ctx: RunContext = {},
  maxRows = 32,
): Promise<number[]> {
  const rows: SampleRow[] = [];
  maskSets.forEach((_, m) => seeds.forEach((seed) => rows.push({ prompt, seed, maskSet: m })));
  const out = await sampleRows(
    runner,
    manifest,
    embeddings,
    maskSets,
    rows,
    { steps: 1, guidance: 1, stopAfter: 1, keepFirstDifference: true, maxRows, stage: 'seed consistency' },
    ctx,
  );
  const shape = samplerOf(runner, manifest).noiseShape;
  return maskSets.map(
    (_, m) =>
      seedConsistency(out.firstDifferences!.slice(m * seeds.length, (m + 1) * seeds.length), shape, 'max').score,
  );
}

/** Neutral activation statistics and NeMo's target signal from neutral prompts. */
export async function neutralReference(
  runner: ScienceRunner,
  manifest: Manifest,
  prompts: readonly string[],
  seeds: readonly number[],
  ctx: RunContext = {},
): Promise<NeutralReference> {
  if (seeds.length < 2) throw new RangeError('NeMo needs at least two seeds');
  const emb = await encodePrompts(runner, manifest, prompts, ctx);
  const stats = neutralStatistics(await valueActivationsOf(runner, manifest, emb, ctx));
  const signals: number[] = [];
  const full = [allOnes(manifest)];
  for (let p = 0; p < prompts.length; p++) {
    signals.push((await seedConsistencies(runner, manifest, emb, p, full, seeds, { signal: ctx.signal }))[0]);
    ctx.onProgress?.({ stage: 'neutral seed consistency', done: p + 1, total: prompts.length });
  }
  return {
    prompts: [...prompts],
    seeds: [...seeds],
    activationMean: Array.from(stats.mean),
    activationStd: Array.from(stats.std),
    signals,
    target: meanPlusStd(signals),
  };
}

export interface NemoOptions {
  thetaStart?: number;
  thetaStep?: number;
  thetaMin?: number;
  /** default 80 */
  maxEvaluations?: number;
}

export interface NemoLocalization {
  prompt: string;
  /** the mask input the neurons belong to (cross-attention values) */
  mask: string;
  z: number[];
  search: NemoResult;
  /** the refined neurons as pruned units, ready for a MaskSet or the URL */
  pruned: PrunedUnit[];
  target: number;
}

/** NeMo's localisation for one prompt against a neutral reference (same seeds as the reference). */
export async function localizeNemo(
  runner: ScienceRunner,
  manifest: Manifest,
  prompt: string,
  reference: NeutralReference,
  options: NemoOptions = {},
  ctx: RunContext = {},
): Promise<NemoLocalization> {
  const spec = maskSpecOfKind(manifest, VALUE_NEURON_KIND);
  const emb = await encodePrompts(runner, manifest, [prompt], ctx);
  const [activation] = await valueActivationsOf(runner, manifest, emb, ctx);
  const z = zScores(activation, statisticsOf(reference));
  const maxEvaluations = options.maxEvaluations ?? 80;
  let evaluations = 0;
  const search = await nemoSearch({
    z,
    width: spec.units,
    target: reference.target,
    thetaStart: options.thetaStart,
    thetaStep: options.thetaStep,
    thetaMin: options.thetaMin,
    maxEvaluations,
    measure: async (pruned) => {
      const [signal] = await seedConsistencies(
        runner,
        manifest,
        emb,
        0,
        [maskSetPruning(manifest, spec, pruned)],
        reference.seeds,
        { signal: ctx.signal },
      );
      ctx.onProgress?.({ stage: 'NeMo search', done: ++evaluations, total: maxEvaluations });
      return signal;
    },
  });
  return {
    prompt,
    mask: spec.name,
    z: Array.from(z),
    search,
    pruned: prunedUnitsOf(spec, search.refined),
    target: reference.target,
  };
}

export type AblationUnits = 'heads' | 'neurons';

export interface AblationOptions {
  units: AblationUnits;
  /** flat unit indices to ablate (default: every unit of the mask input) */
  subset?: readonly number[];
  memorized: readonly string[];
  neutral: readonly string[];
  seeds: readonly number[];
  steps: number;
  /** Wen's k: the memorization score is the mean gap over the first k steps */
  k: number;
  guidance: number;
  maxRows?: number;
}

export interface AblationAttribution {
  mask: string;
  layers: number;
  unitsPerLayer: number;
  units: number[];
  /** per unit, aligned with `units`: mean Wen-score drop over memorized / neutral prompts, and their difference */
  memorizedDrop: number[];
  neutralDrop: number[];
  universal: number[];
  /** per unit: mean relativeChange of the first-step text-conditional noise direction on neutral prompts */
  neutralChange: number[];
  /** per unit: utilityAwareScores (relative memorized drop minus neutralChange), the universal mask's ranking */
  utilityAware: number[];
  /** Wen score with nothing masked, per prompt */
  baseline: { memorized: number[]; neutral: number[] };
}

/** UNet calls ablationAttribution makes (for progress totals and cost estimates). */
export function ablationCalls(
  units: number,
  prompts: number,
  o: Pick<AblationOptions, 'seeds' | 'steps' | 'k' | 'maxRows'>,
): number {
  return unetCallsFor((units + 1) * prompts * o.seeds.length, { steps: o.steps, stopAfter: o.k, maxRows: o.maxRows });
}

/**
 * Per-unit ablation attribution with Wen's score as the memorization score: rows are
 * (nothing masked | unit u masked) x prompt x seed, all batched.
 */
export async function ablationAttribution(
  runner: ScienceRunner,
  manifest: Manifest,
  options: AblationOptions,
  ctx: RunContext = {},
): Promise<AblationAttribution> {
  const spec = maskSpecOfKind(manifest, options.units === 'heads' ? CROSS_HEAD_KIND : VALUE_NEURON_KIND);
  const units = options.subset ? [...options.subset] : Array.from({ length: spec.layers * spec.units }, (_, j) => j);
  if (options.memorized.length === 0 || options.neutral.length === 0)
    throw new RangeError('ablation needs memorized and neutral prompts');
  if (options.seeds.length === 0) throw new RangeError('ablation needs at least one seed');
  const prompts = [...options.memorized, ...options.neutral];
  const emb = await encodePrompts(runner, manifest, prompts, ctx);
  const maskSets = [allOnes(manifest), ...units.map((u) => maskSetPruning(manifest, spec, [u]))];
  const S = options.seeds.length;
  const P = prompts.length;
  const rows: SampleRow[] = [];
  for (let m = 0; m < maskSets.length; m++)
    for (let p = 0; p < P; p++) for (const seed of options.seeds) rows.push({ prompt: p, seed, maskSet: m });
  // Neutral rows' first-step conditional directions, reduced on the fly (rows are mask-major, so the
  // unmasked rows come first): no per-row arrays are kept, even for hundreds of neurons.
  const M = options.memorized.length;
  const baseDirection = new Map<number, Float32Array>();
  const neutralChange = new Float64Array(units.length);
  const onFirstDifference = (row: number, d: Float32Array) => {
    const m = Math.floor(row / (P * S));
    const within = row % (P * S);
    if (Math.floor(within / S) < M) return; // a memorized prompt
    if (m === 0) baseDirection.set(within, d);
    else neutralChange[m - 1] += relativeChange(d, baseDirection.get(within)!) / ((P - M) * S);
  };
  const out = await sampleRows(
    runner,
    manifest,
    emb,
    maskSets,
    rows,
    {
      steps: options.steps,
      guidance: options.guidance,
      stopAfter: options.k,
      maxRows: options.maxRows,
      stage: `ablate ${options.units}`,
      onFirstDifference,
      describe: (chunk) => {
        const m = chunk[0].maskSet;
        const unit = m === 0 ? 'nothing masked (the reference)' : `${unitInWords(manifest, spec, units[m - 1])} masked`;
        return `${unit}, on ${promptsInWords(chunk.filter((r) => r.maskSet === m).map((r) => prompts[r.prompt]))}`;
      },
    },
    ctx,
  );
  // score[m][p]: Wen's score averaged over seeds
  const score = (m: number, p: number) => {
    let s = 0;
    for (let k = 0; k < S; k++) s += noiseGapScore(out.gaps[(m * P + p) * S + k], options.k);
    return s / S;
  };
  const measurements = (from: number, count: number): AblationMeasurements => {
    const baseline = Array.from({ length: count }, (_, i) => score(0, from + i));
    const ablated = new Float64Array(units.length * count);
    for (let u = 0; u < units.length; u++)
      for (let i = 0; i < count; i++) ablated[u * count + i] = score(u + 1, from + i);
    return { units, baseline, ablated };
  };
  const mem = measurements(0, options.memorized.length);
  const neu = measurements(options.memorized.length, options.neutral.length);
  return {
    mask: spec.name,
    layers: spec.layers,
    unitsPerLayer: spec.units,
    units,
    memorizedDrop: Array.from(meanScoreDrop(mem)),
    neutralDrop: Array.from(meanScoreDrop(neu)),
    universal: Array.from(universalAttribution(mem, neu)),
    neutralChange: Array.from(neutralChange),
    utilityAware: Array.from(utilityAwareScores(mem, neutralChange)),
    baseline: { memorized: Array.from(mem.baseline), neutral: Array.from(neu.baseline) },
  };
}

/** An attribution as a [layer][unit] grid (NaN where a unit was not measured), for the head grid. */
export function attributionGrid(a: AblationAttribution, values: readonly number[] = a.universal): number[][] {
  const grid = Array.from({ length: a.layers }, () => new Array<number>(a.unitsPerLayer).fill(Number.NaN));
  a.units.forEach((j, i) => (grid[Math.floor(j / a.unitsPerLayer)][j % a.unitsPerLayer] = values[i]));
  return grid;
}
