/**
 * Per-unit ablation attribution: how much does masking one unit (head, value neuron, FF neuron)
 * lower a memorization score on memorized prompts, beyond what it lowers on neutral prompts?
 *
 *   drop_u(P)   = mean over prompts p in P of  score(p) - score(p | unit u masked)
 *   universal_u = drop_u(memorized) - drop_u(neutral)
 *
 * A unit that every prompt relies on lowers the score everywhere and nets out; a unit that only
 * memorized prompts rely on scores high (in the spirit of UniForget's "universal" units). The score
 * can be any memorization signal where higher means more memorized (noise gap, seed consistency,
 * replication similarity). The measurements come through a callback, so model runs stay elsewhere.
 *
 * Layouts: `units` lists the flat unit indices measured (layer * units + unit of one mask input);
 * ablated scores are float [units.length, prompts] row-major, aligned with `units`.
 */

export interface AblationMeasurements {
  /** flat indices of the units that were masked, one at a time */
  units: readonly number[];
  /** score per prompt with nothing masked: [prompts] */
  baseline: ArrayLike<number>;
  /** score per unit and prompt with that unit masked: [units.length * prompts] */
  ablated: ArrayLike<number>;
}

function checkMeasurements(m: AblationMeasurements): number {
  const prompts = m.baseline.length;
  if (prompts === 0) throw new RangeError('need at least one prompt');
  if (m.ablated.length !== m.units.length * prompts) {
    throw new RangeError(`ablated scores: expected ${m.units.length} x ${prompts}, got ${m.ablated.length}`);
  }
  return prompts;
}

/** Mean over prompts of baseline - ablated, per measured unit (positive: masking lowers the score). */
export function meanScoreDrop(m: AblationMeasurements): Float64Array {
  const prompts = checkMeasurements(m);
  const drop = new Float64Array(m.units.length);
  for (let u = 0; u < m.units.length; u++) {
    let s = 0;
    for (let p = 0; p < prompts; p++) s += m.baseline[p] - m.ablated[u * prompts + p];
    drop[u] = s / prompts;
  }
  return drop;
}

/** universal_u = drop over memorized prompts - drop over neutral prompts, aligned with `units`. */
export function universalAttribution(memorized: AblationMeasurements, neutral: AblationMeasurements): Float64Array {
  if (memorized.units.length !== neutral.units.length || memorized.units.some((u, i) => u !== neutral.units[i])) {
    throw new RangeError('memorized and neutral measurements must cover the same units in the same order');
  }
  const m = meanScoreDrop(memorized);
  const n = meanScoreDrop(neutral);
  for (let i = 0; i < m.length; i++) m[i] -= n[i];
  return m;
}

/** ||a - b|| / ||b||: how far a direction moved, relative to its size (0 when b is zero). */
export function relativeChange(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError('vectors differ in length');
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return norm > 0 ? Math.sqrt(diff / norm) : 0;
}

/**
 * The utility-aware universal score, per unit: the relative drop of the memorization score over
 * flagged prompts (drop / mean baseline) minus how far masking the unit moves the text-conditional
 * noise direction on neutral prompts (relativeChange, averaged; UniForget's reconstruction term at
 * the first step). Both are shares, so they compare directly. The neutral term sees what a
 * score-drop difference misses: a unit whose removal leaves the size of the text's effect alone
 * but turns its direction (a red circle comes out blue) costs utility.
 */
export function utilityAwareScores(memorized: AblationMeasurements, neutralChange: ArrayLike<number>): Float64Array {
  if (neutralChange.length !== memorized.units.length) throw new RangeError('one neutral change per unit');
  const drop = meanScoreDrop(memorized);
  let base = 0;
  for (let p = 0; p < memorized.baseline.length; p++) base += memorized.baseline[p];
  base /= memorized.baseline.length;
  for (let u = 0; u < drop.length; u++) drop[u] = (base > 0 ? drop[u] / base : 0) - neutralChange[u];
  return drop;
}

/** Positions into `scores`, highest first; ties keep the lower position first (stable). */
export function rankUnits(scores: ArrayLike<number>): number[] {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * The k highest-attributed units as a pruned-unit set (flat indices, ascending: the layout of
 * Experiment.masks). Units scoring at or below `minScore` (default 0: masking them does not help
 * more on memorized prompts than on neutral ones) are never chosen, so fewer than k may come back.
 */
export function topKUnits(units: readonly number[], scores: ArrayLike<number>, k: number, minScore = 0): number[] {
  if (units.length !== scores.length) throw new RangeError('units and scores differ in length');
  if (!(Number.isInteger(k) && k >= 0)) throw new RangeError('k must be a non-negative whole number');
  const chosen: number[] = [];
  for (const i of rankUnits(scores)) {
    if (chosen.length >= k || !(scores[i] > minScore)) break;
    chosen.push(units[i]);
  }
  return chosen.sort((a, b) => a - b);
}

/** Score of prompt `prompt` with `unit` masked (null: nothing masked). */
export type AblationMeasure = (unit: number | null, prompt: number) => number | Promise<number>;

/**
 * Run the ablations one unit at a time: 1 + units.length calls per prompt, baseline first.
 * Sequential on purpose: the worker owns one session and batches inside each call.
 */
export async function measureAblations(
  units: readonly number[],
  prompts: number,
  measure: AblationMeasure,
): Promise<AblationMeasurements> {
  const baseline = new Float64Array(prompts);
  const ablated = new Float64Array(units.length * prompts);
  for (let p = 0; p < prompts; p++) baseline[p] = await measure(null, p);
  for (let u = 0; u < units.length; u++) {
    for (let p = 0; p < prompts; p++) ablated[u * prompts + p] = await measure(units[u], p);
  }
  return { units, baseline, ablated };
}
