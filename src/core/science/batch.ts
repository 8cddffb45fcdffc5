/**
 * Batched sampling for the science code: many (prompt, seed, mask set) rows in one UNet call.
 *
 * generate() (pipeline.ts) runs one prompt with several mask variants; studies need hundreds of
 * prompt x seed x mask combinations, and a UNet call costs far less per row at batch 64 than at
 * batch 2. So rows are packed [uncond, cond] per row, up to `maxRows` rows per call, and each chunk
 * runs its own trajectories on the model's sampler (sampler.ts) with exactly its generation's
 * arithmetic (same noise, same guidance, same update), so a row here equals the matching generate()
 * or generateLatent() run (checked in batch.test.ts and latent-sampler.test.ts).
 *
 * Nothing large is kept unless asked: per row, the per-step noise gaps always; the first-step
 * noise difference and the final image on request; cross-attention goes to a callback per row and
 * step so callers reduce it on the spot.
 */
import type { Manifest } from '../manifest';
import type { MaskSet } from '../masks';
import type { RunContext } from './context';
import { type ScienceRunner, isScienceSampler, samplerOf } from './sampler';

export { promptsInWords } from './words';

/** Text embeddings of prompts, one [T * W] block each, plus the empty prompt (the uncond row). */
export interface PromptEmbeddings {
  prompts: string[];
  /** [prompts, T, W] */
  cond: Float32Array;
  /** [T, W] */
  empty: Float32Array;
  /** per prompt: 1 for real tokens, 0 for padding */
  tokenMasks: Uint8Array[];
  /** T * W */
  rowSize: number;
  /** prompts per text-encoder call: prompt p was encoded together with the others of block floor(p / encodeBlock) */
  encodeBlock: number;
}

/** Encodes prompts in chunks of `chunk` (one text-encoder call each) and the empty prompt once. */
export function encodePrompts(
  runner: ScienceRunner,
  manifest: Manifest,
  prompts: readonly string[],
  ctx: RunContext = {},
  chunk = 64,
): Promise<PromptEmbeddings> {
  return samplerOf(runner, manifest).encodePrompts(prompts, ctx, chunk);
}

/** One trajectory: which prompt (index into the embeddings), which seed, which mask set. */
export interface SampleRow {
  prompt: number;
  seed: number;
  maskSet: number;
}

/**
 * A per-row reduction of the conditional row's cross-attention, known by name, so that it can run
 * wherever the UNet runs (a queue worker: see node/queue) and only its few terms travel back.
 */
export interface AttentionReduction {
  name: string;
  /** the terms of one row and step, from its cross-attention per layer ([heads, pixels, T] each) */
  terms(manifest: Manifest, layers: Float32Array[], tokenMask: Uint8Array): Float64Array;
}

export interface SampleOptions {
  steps: number;
  guidance: number;
  /** run only the first `stopAfter` UNet calls of the `steps`-step schedule (detection needs the first few) */
  stopAfter?: number;
  /** keep eps_cond - eps_uncond of the first step per row (NeMo's seed consistency) */
  keepFirstDifference?: boolean;
  /** called with each row's first-step eps_cond - eps_uncond (CHW, a fresh array) instead of keeping it */
  onFirstDifference?: (row: number, difference: Float32Array) => void;
  /** keep the predicted clean image after the last step run (the final image when all steps run) */
  keepImages?: boolean;
  /** called with the conditional row's cross-attention per layer, [heads, pixels, T], per row and step */
  onAttention?: (row: number, step: number, layers: Float32Array[]) => void;
  /** like onAttention, but reduced on the spot by a named reduction: onTerms gets its terms per row and step */
  reduceAttention?: {
    reduction: AttentionReduction;
    onTerms: (row: number, step: number, terms: Float64Array) => void;
  };
  /** rows per UNet call (the call's batch is twice this); default 32 */
  maxRows?: number;
  /** progress stage name; default 'sample' */
  stage?: string;
  /** the rows of the UNet call in progress, in words, for the progress report's detail (default: their prompts) */
  describe?: (rows: readonly SampleRow[]) => string;
}

export interface SampleResult {
  /** per row, per step run: ||eps_cond - eps_uncond||_2 */
  gaps: Float64Array[];
  /** per row with keepFirstDifference: CHW */
  firstDifferences?: Float32Array[];
  /** per row with keepImages: CHW in [-1, 1] */
  images?: Float32Array[];
  /** UNet calls made and the time they took, for the report's timings */
  unetCalls: number;
  unetMs: number;
  unetRows: number;
}

/** Number of UNet calls sampleRows will make (for progress totals spanning several calls). */
export function unetCallsFor(rows: number, options: Pick<SampleOptions, 'steps' | 'stopAfter' | 'maxRows'>): number {
  const steps = Math.min(options.steps, options.stopAfter ?? options.steps);
  return Math.ceil(rows / (options.maxRows ?? 32)) * steps;
}

/** The arguments of one sampleRows call, as a RowSampler (context.ts) receives them. */
export interface SampleRequest {
  manifest: Manifest;
  embeddings: PromptEmbeddings;
  maskSets: readonly MaskSet[];
  rows: readonly SampleRow[];
  options: SampleOptions;
}

/**
 * Runs every row with classifier-free guidance, `maxRows` rows per UNet call, on the model's own
 * sampler (sampler.ts). Checks the signal before every call and reports progress after every call.
 * With `ctx.sampler`, the organism's rows may run elsewhere (a queue of workers), batch for batch
 * the same UNet calls.
 */
export async function sampleRows(
  runner: ScienceRunner,
  manifest: Manifest,
  embeddings: PromptEmbeddings,
  maskSets: readonly MaskSet[],
  rows: readonly SampleRow[],
  options: SampleOptions,
  ctx: RunContext = {},
): Promise<SampleResult> {
  const sampler = samplerOf(runner, manifest);
  const calls = sampler.callsFor(options.steps);
  const run = Math.min(calls, options.stopAfter ?? calls);
  if (!(run >= 1)) throw new RangeError('stopAfter must be at least 1');
  for (const r of rows) {
    if (r.prompt < 0 || r.prompt >= embeddings.prompts.length)
      throw new RangeError(`row prompt ${r.prompt} out of range`);
    if (r.maskSet < 0 || r.maskSet >= maskSets.length) throw new RangeError(`row mask set ${r.maskSet} out of range`);
  }
  // The queue's workers open the organism's model directories; a sampler brought by the caller runs here.
  if (ctx.sampler && !isScienceSampler(runner)) {
    const elsewhere = await ctx.sampler.sample({ manifest, embeddings, maskSets, rows, options }, ctx);
    if (elsewhere) return elsewhere;
  }
  return sampler.sampleRows(embeddings, maskSets, rows, options, ctx);
}
