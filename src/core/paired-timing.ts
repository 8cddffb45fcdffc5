/**
 * How the benchmarks measure what the pipeline adds per step: each step of a generation is paired
 * with one bare UNet call on the same session, and which of the two goes first alternates, so
 * machine load hits both alike. Used by `npm run bench` (Node) and the inference worker's bench.
 */

export interface StepTimes {
  /** ms per bare UNet call */
  bare: number[];
  /** ms per pipeline step */
  pipeline: number[];
}

/**
 * Times `pairs` pairs of (bare call, pipeline step), alternating their order, and appends the times
 * to `into` unless `record` is false (warm-up rounds).
 */
export async function timeInterleaved(
  pairs: number,
  bareCall: () => Promise<unknown>,
  pipelineStep: () => Promise<unknown>,
  into: StepTimes,
  record = true,
): Promise<void> {
  const timed = async (fn: () => Promise<unknown>, out: number[]) => {
    const t0 = performance.now();
    await fn();
    if (record) out.push(performance.now() - t0);
  };
  for (let i = 1; i <= pairs; i++) {
    if (i % 2) {
      await timed(bareCall, into.bare);
      await timed(pipelineStep, into.pipeline);
    } else {
      await timed(pipelineStep, into.pipeline);
      await timed(bareCall, into.bare);
    }
  }
}

/** The q-quantile of `values` (linear interpolation between order statistics). */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError('quantile of no values');
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

export interface StepComparison {
  pairs: number;
  bareMsPerStep: number;
  pipelineMsPerStep: number;
  /** pipeline / bare, medians per step */
  ratio: number;
  /** pipeline / bare, sums over all pairs */
  ratioOfTotals: number;
  bareP90: number;
  pipelineP90: number;
}

/** Medians, 90th percentiles and ratios of paired step times, rounded for a report. */
export function compareStepTimes({ bare, pipeline }: StepTimes): StepComparison {
  const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);
  const bareMs = quantile(bare, 0.5);
  const pipelineMs = quantile(pipeline, 0.5);
  return {
    pairs: bare.length,
    bareMsPerStep: +bareMs.toFixed(3),
    pipelineMsPerStep: +pipelineMs.toFixed(3),
    ratio: +(pipelineMs / bareMs).toFixed(3),
    ratioOfTotals: +(sum(pipeline) / sum(bare)).toFixed(3),
    bareP90: +quantile(bare, 0.9).toFixed(3),
    pipelineP90: +quantile(pipeline, 0.9).toFixed(3),
  };
}
