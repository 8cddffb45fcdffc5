/**
 * What a science job costs, said before it runs. Nearly all of a study's time is UNet calls, so
 *
 *   UNet evaluations = prompts x seeds x conditions x steps x (2 with classifier-free guidance)
 *   time             = UNet evaluations x the measured time of one evaluation
 *
 * where one evaluation is one batch row of one UNet call (the lab packs [uncond, cond] pairs of
 * many trajectories into each call, batch.ts). The time per row falls as the batch grows, so it is
 * measured at the batch the job will use (measureStepTime, rowsPerCall). Wen et al.'s study on SD
 * v1.4 (500 + 2,000 prompts x 4 seeds x 50 steps x 2) is 1,000,000 evaluations.
 */
import type { Manifest } from '../manifest';
import { type RunContext, throwIfAborted } from './context';
import { type ScienceRunner, samplerOf } from './sampler';

export interface JobShape {
  prompts: number;
  seeds: number;
  /** UNet steps run per trajectory (the first k for detection) */
  steps: number;
  /** classifier-free guidance: an unconditional and a conditional evaluation per step */
  guided: boolean;
  /** mask sets (conditions) each prompt and seed runs under; default 1 */
  conditions?: number;
  /** trajectories per UNet call; default 32, as sampleRows */
  maxRows?: number;
}

export interface StepTime {
  /** milliseconds per batch row of one UNet call */
  msPerEvaluation: number;
  /** the batch (rows per call) it was measured at */
  batch: number;
}

export interface JobCost {
  /** trajectories: prompts x seeds x conditions */
  trajectories: number;
  unetEvaluations: number;
  unetCalls: number;
  /** batch rows per UNet call the job will use: measure the step time at this batch */
  rowsPerCall: number;
  seconds: number;
  /** e.g. "20 prompts x 4 seeds x 25 steps x 2 (guidance) = 4,000 UNet evaluations, about 2.1 s at 0.52 ms each" */
  summary: string;
}

/** The batch rows of each UNet call a job of this shape makes (the measure-at batch). */
export function rowsPerCall(shape: JobShape): number {
  const trajectories = shape.prompts * shape.seeds * (shape.conditions ?? 1);
  return Math.max(1, Math.min(trajectories, shape.maxRows ?? 32)) * (shape.guided ? 2 : 1);
}

export function estimateJobCost(shape: JobShape, stepTime: StepTime): JobCost {
  const { prompts, seeds, steps, guided } = shape;
  const conditions = shape.conditions ?? 1;
  for (const [name, v] of Object.entries({ prompts, seeds, steps, conditions }))
    if (!(Number.isInteger(v) && v >= 0)) throw new RangeError(`${name} must be a whole number >= 0, got ${v}`);
  if (!(stepTime.msPerEvaluation >= 0 && Number.isFinite(stepTime.msPerEvaluation)))
    throw new RangeError(`the measured step time must be a number >= 0, got ${stepTime.msPerEvaluation}`);
  const trajectories = prompts * seeds * conditions;
  const perStep = guided ? 2 : 1;
  const unetEvaluations = trajectories * steps * perStep;
  const unetCalls = Math.ceil(trajectories / (shape.maxRows ?? 32)) * steps;
  const seconds = (unetEvaluations * stepTime.msPerEvaluation) / 1000;
  const parts = [`${fmt(prompts)} prompt${prompts === 1 ? '' : 's'}`, `${fmt(seeds)} seed${seeds === 1 ? '' : 's'}`];
  if (conditions !== 1) parts.push(`${fmt(conditions)} conditions`);
  parts.push(`${fmt(steps)} step${steps === 1 ? '' : 's'}`);
  if (guided) parts.push('2 (guidance)');
  const each =
    stepTime.msPerEvaluation < 10 ? stepTime.msPerEvaluation.toFixed(2) : fmt(Math.round(stepTime.msPerEvaluation));
  return {
    trajectories,
    unetEvaluations,
    unetCalls,
    rowsPerCall: rowsPerCall(shape),
    seconds,
    summary: `${parts.join(' x ')} = ${fmt(unetEvaluations)} UNet evaluations, about ${formatDuration(seconds)} at ${each} ms each`,
  };
}

const fmt = (n: number) => n.toLocaleString('en');

/**
 * A job's time from the step time of the last generation (one guided image: one trajectory per
 * UNet call), before anything is measured at the job's own batch. Batches of many trajectories
 * cost less per trajectory, so this is an upper bound (1.14x the batched estimate on the organism
 * at 32 trajectories per call, cost.test.ts).
 */
export function upperBoundFromGeneration(shape: JobShape, generationStepMs: number): JobCost {
  return estimateJobCost(shape, {
    msPerEvaluation: generationStepMs / (shape.guided ? 2 : 1),
    batch: shape.guided ? 2 : 1,
  });
}

/** Seconds as a reader wants them: "0.4 s", "12 s", "3.5 min", "2.1 h", "3.2 days". */
export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

/**
 * Times UNet calls of `rows` batch rows (noise input, unmasked) and returns the median time per
 * row. One call first warms the session up and is not counted.
 */
export async function measureStepTime(
  runner: ScienceRunner,
  manifest: Manifest,
  rows: number,
  repeats = 3,
  ctx: RunContext = {},
): Promise<StepTime> {
  if (!(Number.isInteger(rows) && rows >= 1)) throw new RangeError(`rows must be a whole number >= 1, got ${rows}`);
  const call = samplerOf(runner, manifest).prepareProbe(rows);
  const times: number[] = [];
  for (let i = 0; i <= repeats; i++) {
    throwIfAborted(ctx.signal, 'measuring the step time');
    const began = performance.now();
    await call();
    if (i > 0) times.push(performance.now() - began);
  }
  times.sort((a, b) => a - b);
  return { msPerEvaluation: times[Math.floor(times.length / 2)] / rows, batch: rows };
}
