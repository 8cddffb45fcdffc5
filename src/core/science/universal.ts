/**
 * Universal pruning: one mask (of cross-attention heads, or of cross-attention value neurons) for
 * every prompt, built WITHOUT knowing which prompts are memorized.
 *
 * The rule (what the mask may see):
 *   1. A pool of training captions, the kind of list any model owner holds: the manifest's sample
 *      of scene captions plus every trained caption of the planted entries, de-duplicated and
 *      sorted alphabetically. Only the strings enter; whether a caption is memorized is never read.
 *   2. Reference neutral prompts: new prompts the owner writes, known not to be training captions
 *      (the first half of manifest.neutralPrompts; the second half is kept for measuring utility,
 *      so the mask is never tuned on the prompts it is judged on).
 *   3. The detector decides, not the ground truth: a pool caption is "flagged" when its Wen score
 *      exceeds the reference neutral mean + `flagZ` standard deviations (default 3).
 *   4. Per unit, a score from flagged captions against the neutral reference, then the top
 *      `sparsity` share of all units of that kind is pruned:
 *        'ablation'    utility-aware ablation: the relative Wen-score drop over flagged captions
 *                      when the unit alone is masked, minus how far that moves the text-conditional
 *                      noise direction on the reference neutral prompts (metrics/attribution.ts
 *                      utilityAwareScores; one row per unit x prompt x seed: for the 20 heads of
 *                      the organism, a few minutes)
 *        'activation'  value neurons only: mean over flagged captions of NeMo's z-score
 *                      |a_j - mu_j| / sigma_j (one UNet call per 64 captions: the value output
 *                      depends on the text only)
 *
 * Heads by ablation is the default because it is what works on the model organism (step 6005, 10
 * steps, 2 seeds): masking the 40% of cross-attention heads (8 of 20) with the highest
 * utility-aware score cuts replication from 90% to 10% with neutral adherence at 91% of the
 * unpruned model's, while random heads of the same count cut it to 62.5%, and activation-scored
 * value neurons leave it unchanged up to 15% sparsity. The planted images are selected by the
 * trigger token through cross-attention in several layers at once (the whole of the second
 * down-path layer ends up in the mask); no small set of value or feed-forward neurons carries that
 * selection alone. Without the neutral-direction term (score drops alone) the top 8 heads cut
 * replication by only 50%, and 10 heads cost 26% of adherence: the top-ranked heads then include
 * the up-path heads that colour and place neutral scenes.
 *
 * Why this is legitimate: everything it uses is available to a deployer who has the training
 * captions and a detector, and nothing comes from manifest.memorized's labels or images. It is the
 * detect-then-mitigate pipeline made universal: the mask is fixed once and applied to every prompt,
 * including ones that are not in the pool. The planted labels are used only afterwards, to score
 * the mask (evaluate.ts).
 */
import type { Manifest } from '../manifest';

export { trainingCaptionPool } from './prompt-sources';
import { topKUnits } from '../metrics/attribution';
import { neutralStatistics, zScores } from '../metrics/nemo';
import { Rng } from '../rng';
import { encodePrompts } from './batch';
import { trainingCaptionPool } from './prompt-sources';
import { JobInputError, type RunContext } from './context';
import type { ScienceRunner } from './sampler';
import { type DetectionOptions, detectEncoded } from './detect';
import { type AblationUnits, ablationAttribution, valueActivationsOf } from './localize';
import { CROSS_HEAD_KIND, VALUE_NEURON_KIND, maskSpecOfKind, unitCount } from './units';

/** The neutral prompts split in two halves: reference (mask building, calibration) and evaluation (utility). */
export function neutralSplit(
  manifest: Manifest,
  limit = manifest.neutralPrompts.length,
): { reference: string[]; evaluation: string[] } {
  return splitNeutral(manifest.neutralPrompts, limit);
}

/** Any neutral list split the same way: the first half of its first `limit` prompts, and the rest. */
export function splitNeutral(
  neutral: readonly string[],
  limit = neutral.length,
): { reference: string[]; evaluation: string[] } {
  const prompts = neutral.slice(0, limit);
  const half = Math.ceil(prompts.length / 2);
  return { reference: prompts.slice(0, half), evaluation: prompts.slice(half) };
}

/** Threshold mean + z * std (sample std) of the reference scores. */
export function flagThreshold(reference: readonly number[], z: number): number {
  if (reference.length < 2) throw new RangeError('flagging needs at least two reference scores');
  const mean = reference.reduce((s, v) => s + v, 0) / reference.length;
  const std = Math.sqrt(reference.reduce((s, v) => s + (v - mean) ** 2, 0) / (reference.length - 1));
  return mean + z * std;
}

export type UniversalMode = 'activation' | 'ablation';

/** Which units the universal mask prunes and how they are scored. */
export interface UniversalMethod {
  units: AblationUnits;
  mode: UniversalMode;
}

/** What works on the organism (file comment): cross-attention heads scored by ablation. */
export const DEFAULT_UNIVERSAL: UniversalMethod = { units: 'heads', mode: 'ablation' };

/** Sparsities a Pareto sweep tries for a unit kind: heads are few (20 on the organism), neurons many. */
export function defaultSparsities(units: AblationUnits): number[] {
  return units === 'heads' ? [0.1, 0.2, 0.3, 0.4] : [0.01, 0.02, 0.05, 0.1, 0.2];
}

/**
 * The sparsity the lab starts the slider at and builds its "Universal mask" preset with:
 * for heads, the smallest share that met the claim budget on the organism (see the issue note);
 * for neurons, a small share (none met the budget).
 */
export function defaultSparsity(units: AblationUnits): number {
  return units === 'heads' ? 0.4 : 0.05;
}

/** The scoring a unit kind gets in the lab: heads by ablation, neurons by activation (cheap). */
export function methodFor(units: AblationUnits): UniversalMethod {
  return { units, mode: units === 'heads' ? 'ablation' : 'activation' };
}

/** Checks a method: activation scoring exists for value neurons only. */
export function checkUniversalMethod(method: UniversalMethod): void {
  if (method.units !== 'heads' && method.units !== 'neurons')
    throw new RangeError(`unknown universal units "${String(method.units)}" (heads or neurons)`);
  if (method.mode !== 'ablation' && method.mode !== 'activation')
    throw new RangeError(`unknown universal mode "${String(method.mode)}" (ablation or activation)`);
  if (method.units === 'heads' && method.mode === 'activation')
    throw new RangeError('heads are scored by ablation only (activation scoring is for value neurons)');
}

/** The mask input a unit kind lives in. */
export function universalSpec(manifest: Manifest, units: AblationUnits) {
  return maskSpecOfKind(manifest, units === 'heads' ? CROSS_HEAD_KIND : VALUE_NEURON_KIND);
}

/** Flagging: the reference mean + this many standard deviations. */
export const DEFAULT_FLAG_Z = 3;
/** Flagged captions that enter the score, highest Wen first. */
export const DEFAULT_MAX_FLAGGED = 48;

export interface UniversalOptions extends UniversalMethod {
  /** flag pool captions whose Wen score is above the neutral mean + flagZ std; default 3 */
  flagZ?: number;
  /** at most this many flagged captions enter the score (highest Wen first); default 48 */
  maxFlagged?: number;
  /** the detector run (seeds, steps, k, guidance); also the ablation's Wen score settings */
  detection: DetectionOptions;
  /** reference neutral prompts (default: neutralSplit(manifest).reference) */
  reference?: readonly string[];
  /** the captions to flag from, labels unread (default: trainingCaptionPool(manifest), the organism's) */
  pool?: readonly string[];
}

export interface UniversalScores {
  mode: UniversalMode;
  units: AblationUnits;
  mask: string;
  /** per unit (flat layer * units + unit): higher = prune first */
  scores: number[];
  poolSize: number;
  flagged: string[];
  flagThreshold: number;
  /** Wen scores of the pool and the reference, to show what the detector saw */
  poolWen: number[];
  referenceWen: number[];
}

/** Scores every value neuron by the rule in the file comment. */
export async function universalScores(
  runner: ScienceRunner,
  manifest: Manifest,
  options: UniversalOptions,
  ctx: RunContext = {},
): Promise<UniversalScores> {
  checkUniversalMethod(options);
  const spec = universalSpec(manifest, options.units);
  const pool = [...(options.pool ?? trainingCaptionPool(manifest))];
  const reference = [...(options.reference ?? neutralSplit(manifest).reference)];
  if (pool.length === 0)
    throw new JobInputError(
      'The universal mask flags captions from a pool of prompts whose labels it does not read, and this model brings none: import a prompt set (unlabelled or memorized)',
    );
  if (reference.length < 2)
    throw new JobInputError(
      `The universal mask compares the pool with at least two non-memorized prompts, and it was given ${reference.length} (when the evaluation runs, half of the non-memorized prompts go to that comparison and half to measuring how much ordinary images change): import or tick more non-memorized prompts.`,
    );
  const emb = await encodePrompts(runner, manifest, [...pool, ...reference], ctx);
  const detected = await detectEncoded(runner, manifest, emb, options.detection, ctx);
  const poolWen = detected.slice(0, pool.length).map((d) => d.wen);
  const referenceWen = detected.slice(pool.length).map((d) => d.wen);
  const threshold = flagThreshold(referenceWen, options.flagZ ?? DEFAULT_FLAG_Z);
  const flaggedIdx = pool
    .map((_, i) => i)
    .filter((i) => poolWen[i] > threshold)
    .sort((a, b) => poolWen[b] - poolWen[a] || a - b)
    .slice(0, options.maxFlagged ?? DEFAULT_MAX_FLAGGED);
  const flagged = flaggedIdx.map((i) => pool[i]);
  const base = {
    mode: options.mode,
    units: options.units,
    mask: spec.name,
    poolSize: pool.length,
    flagged,
    flagThreshold: threshold,
    poolWen,
    referenceWen,
  };
  if (flagged.length === 0) return { ...base, scores: new Array<number>(unitCount(spec)).fill(0) };

  if (options.mode === 'activation') {
    const acts = await valueActivationsOf(runner, manifest, emb, ctx);
    const stats = neutralStatistics(acts.slice(pool.length));
    const scores = new Float64Array(unitCount(spec));
    for (const i of flaggedIdx) {
      const z = zScores(acts[i], stats);
      for (let j = 0; j < z.length; j++) scores[j] += z[j] / flaggedIdx.length;
    }
    return { ...base, scores: Array.from(scores) };
  }
  const d = options.detection;
  const attribution = await ablationAttribution(
    runner,
    manifest,
    {
      units: options.units,
      memorized: flagged,
      neutral: reference,
      seeds: d.seeds,
      steps: d.steps,
      k: d.k,
      guidance: d.guidance,
      maxRows: d.maxRows,
    },
    ctx,
  );
  return { ...base, scores: attribution.utilityAware };
}

/** Units pruned at a sparsity: round(sparsity * units). */
export function prunedCount(units: number, sparsity: number): number {
  if (!(sparsity >= 0 && sparsity <= 1)) throw new RangeError(`sparsity must be in [0, 1], got ${sparsity}`);
  return Math.round(sparsity * units);
}

/** The universal mask's pruned units at a sparsity (share of all units of its kind). */
export function universalUnits(scores: readonly number[], sparsity: number): number[] {
  // minScore -Infinity: a sparsity asks for exactly that many units, helpful or not
  return topKUnits(
    scores.map((_, j) => j),
    scores,
    prunedCount(scores.length, sparsity),
    -Infinity,
  );
}

/** `count` distinct units out of `units`, uniformly at random for a seed (partial Fisher-Yates), ascending. */
export function randomUnits(units: number, count: number, seed: number): number[] {
  if (!(Number.isInteger(count) && count >= 0 && count <= units))
    throw new RangeError(`cannot draw ${count} of ${units} units`);
  const rng = new Rng(seed);
  const order = Array.from({ length: units }, (_, j) => j);
  for (let i = 0; i < count; i++) {
    const k = i + Math.floor(rng.nextUniform() * (units - i));
    [order[i], order[k]] = [order[k], order[i]];
  }
  return order.slice(0, count).sort((a, b) => a - b);
}
