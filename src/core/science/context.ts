/**
 * What every long science computation takes besides its inputs: a signal to stop it between model
 * calls, a progress callback, and optionally where batched sampling runs. The same shape in the
 * browser worker and in Node.
 */
import type { SampleRequest, SampleResult } from './batch';

export interface Progress {
  /** what is running, e.g. 'detect', 'ablate neurons' */
  stage: string;
  /** model calls (or other units of work) finished in this stage */
  done: number;
  total: number;
  /** what the work in progress is about, in words: which unit is ablated, which prompt is sampled */
  detail?: string;
}

export interface RunContext {
  signal?: AbortSignal;
  onProgress?: (progress: Progress) => void;
  /** runs sampleRows' batches somewhere else (node/queue: workers over Redis) */
  sampler?: RowSampler;
}

/**
 * Another place to run a sampleRows call: it must return exactly what sampleRows would (same UNet
 * batches, callbacks in the same order), or undefined to let sampleRows run it here.
 */
export interface RowSampler {
  sample(request: SampleRequest, ctx: RunContext): Promise<SampleResult | undefined>;
}

/**
 * A job refused because the prompts it was given cannot answer its question (no memorized set,
 * too few neutral prompts): the user can fix it, so the message is for them, not a crash report.
 */
export class JobInputError extends Error {
  override name = 'JobInputError';
}

/** Throws a DOMException named 'AbortError' once the signal is aborted (checked between model calls). */
export function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new DOMException(`aborted ${where}`, 'AbortError');
}

/** True for the error throwIfAborted (and the pipeline) throw. */
export function isAbortError(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/**
 * A context whose progress is one slice of a larger job: stage names are kept, and done/total
 * are mapped into [offset, offset + span] of `parentTotal` so a caller can show one bar for
 * several sub-computations.
 */
export function subContext(
  ctx: RunContext,
  stage: string,
  offset: number,
  span: number,
  parentTotal: number,
): RunContext {
  return {
    signal: ctx.signal,
    sampler: ctx.sampler,
    onProgress: ctx.onProgress
      ? (p) =>
          ctx.onProgress!({
            stage: `${stage}: ${p.stage}`,
            done: offset + (p.total > 0 ? (span * p.done) / p.total : 0),
            total: parentTotal,
            ...(p.detail !== undefined ? { detail: p.detail } : {}),
          })
      : undefined,
  };
}
