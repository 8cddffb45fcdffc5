/**
 * Batched sampling for the science code: many (prompt, seed, mask set) rows in one UNet call.
 *
 * generate() (pipeline.ts) runs one prompt with several mask variants; studies need hundreds of
 * prompt x seed x mask combinations, and a UNet call costs far less per row at batch 64 than at
 * batch 2. So rows are packed [uncond, cond] per row, up to `maxRows` rows per call, and each chunk
 * runs its own DDIM trajectories with exactly generate()'s arithmetic (same noise, same guidance,
 * same update), so a row here equals the matching generate() run (checked in batch.test.ts).
 *
 * Nothing large is kept unless asked: per row, the per-step noise gaps always; the first-step
 * noise difference and the final image on request; cross-attention goes to a callback per row and
 * step so callers reduce it on the spot.
 */
import { type Manifest, organism } from '../manifest';
import type { MaskSet } from '../masks';
import { stackMaskSets } from '../masks';
import type { ModelRunner } from '../pipeline';
import { gaussianNoise } from '../rng';
import { alphaPrev, alphasCumprod, classifierFreeGuidance, ddimStep, ddimTimesteps, noiseGap } from '../schedule';
import { tokenize, wordIndex } from '../tokenizer';
import { type RunContext, throwIfAborted } from './context';

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
export async function encodePrompts(
  runner: ModelRunner,
  manifest: Manifest,
  prompts: readonly string[],
  ctx: RunContext = {},
  chunk = 64,
): Promise<PromptEmbeddings> {
  const { text } = organism(manifest);
  const index = wordIndex(text);
  const rowSize = text.maxTokens * text.width;
  const ids = prompts.map((p) => tokenize(p, text, index).ids);
  throwIfAborted(ctx.signal, 'before text encoding');
  const empty = (await runner.encodeText([tokenize('', text, index).ids])).slice(0, rowSize);
  const cond = new Float32Array(prompts.length * rowSize);
  for (let start = 0; start < prompts.length; start += chunk) {
    throwIfAborted(ctx.signal, 'during text encoding');
    const part = await runner.encodeText(ids.slice(start, start + chunk));
    cond.set(part, start * rowSize);
  }
  const tokenMasks = ids.map((row) => Uint8Array.from(row, (id) => (id === text.padId ? 0 : 1)));
  return { prompts: [...prompts], cond, empty, tokenMasks, rowSize, encodeBlock: chunk };
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
  /** run only the first `stopAfter` of the `steps` DDIM steps (detection needs the first few) */
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

/** Prompts in words for a progress line: the first quoted, then how many others. */
export function promptsInWords(prompts: readonly string[]): string {
  const distinct = [...new Set(prompts)];
  if (distinct.length === 0) return '';
  const rest = distinct.length - 1;
  return `“${distinct[0]}”${rest > 0 ? ` and ${rest} more prompt${rest === 1 ? '' : 's'}` : ''}`;
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
 * Runs DDIM with classifier-free guidance for every row, `maxRows` rows per UNet call. Checks the
 * signal before every call and reports progress after every call. With `ctx.sampler`, the rows
 * may run elsewhere (a queue of workers), batch for batch the same UNet calls.
 */
export async function sampleRows(
  runner: ModelRunner,
  manifest: Manifest,
  embeddings: PromptEmbeddings,
  maskSets: readonly MaskSet[],
  rows: readonly SampleRow[],
  options: SampleOptions,
  ctx: RunContext = {},
): Promise<SampleResult> {
  const { schedule, image } = organism(manifest);
  const timesteps = ddimTimesteps(options.steps, schedule.trainSteps);
  const run = Math.min(timesteps.length, options.stopAfter ?? timesteps.length);
  if (!(run >= 1)) throw new RangeError('stopAfter must be at least 1');
  const alphas = alphasCumprod(schedule);
  const pixels = image.channels * image.height * image.width;
  const maxRows = options.maxRows ?? 32;
  const stage = options.stage ?? 'sample';
  const total = unetCallsFor(rows.length, options);
  const { rowSize } = embeddings;
  for (const r of rows) {
    if (r.prompt < 0 || r.prompt >= embeddings.prompts.length)
      throw new RangeError(`row prompt ${r.prompt} out of range`);
    if (r.maskSet < 0 || r.maskSet >= maskSets.length) throw new RangeError(`row mask set ${r.maskSet} out of range`);
  }
  if (ctx.sampler) {
    const elsewhere = await ctx.sampler.sample({ manifest, embeddings, maskSets, rows, options }, ctx);
    if (elsewhere) return elsewhere;
  }

  const result: SampleResult = {
    gaps: rows.map(() => new Float64Array(run)),
    ...(options.keepFirstDifference ? { firstDifferences: new Array<Float32Array>(rows.length) } : {}),
    ...(options.keepImages ? { images: new Array<Float32Array>(rows.length) } : {}),
    unetCalls: 0,
    unetMs: 0,
    unetRows: 0,
  };
  let done = 0;
  for (let start = 0; start < rows.length; start += maxRows) {
    const chunk = rows.slice(start, start + maxRows);
    const n = chunk.length;
    const batch = 2 * n;
    const context = new Float32Array(batch * rowSize);
    chunk.forEach((r, i) => {
      context.set(embeddings.empty, 2 * i * rowSize);
      context.set(embeddings.cond.subarray(r.prompt * rowSize, (r.prompt + 1) * rowSize), (2 * i + 1) * rowSize);
    });
    const masks = stackMaskSets(
      manifest,
      chunk.map((r) => maskSets[r.maskSet]),
      2,
    );
    const latents = chunk.map((r) => gaussianNoise(r.seed, pixels));
    const x0 = chunk.map(() => new Float32Array(pixels));
    const sample = new Float32Array(batch * pixels);
    const timestep = new Float32Array(batch);
    const guided = new Float32Array(pixels);
    for (let s = 0; s < run; s++) {
      throwIfAborted(ctx.signal, `${stage}: before UNet call ${done + 1} of ${total}`);
      const t = timesteps[s];
      for (let i = 0; i < n; i++) {
        sample.set(latents[i], 2 * i * pixels);
        sample.set(latents[i], (2 * i + 1) * pixels);
      }
      timestep.fill(t);
      const began = performance.now();
      const out = await runner.runUNet(
        { batch, sample, timestep, context, masks },
        { attention: !!(options.onAttention || options.reduceAttention), values: false },
      );
      result.unetMs += performance.now() - began;
      result.unetCalls++;
      result.unetRows += batch;
      if (out.noise.length !== batch * pixels)
        throw new Error(`runner returned ${out.noise.length} noise values, expected ${batch} x ${pixels}`);
      for (let i = 0; i < n; i++) {
        const epsU = out.noise.subarray(2 * i * pixels, (2 * i + 1) * pixels);
        const epsC = out.noise.subarray((2 * i + 1) * pixels, (2 * i + 2) * pixels);
        result.gaps[start + i][s] = noiseGap(epsU, epsC);
        if (s === 0 && (result.firstDifferences || options.onFirstDifference)) {
          const d = new Float32Array(pixels);
          for (let p = 0; p < pixels; p++) d[p] = epsC[p] - epsU[p];
          if (result.firstDifferences) result.firstDifferences[start + i] = d;
          options.onFirstDifference?.(start + i, d);
        }
        if (options.onAttention || options.reduceAttention) {
          if (!out.crossAttention) throw new Error('runner did not return cross-attention although it was asked to');
          const layers = out.crossAttention.map((layer) => condRow(layer, batch, 2 * i + 1));
          options.onAttention?.(start + i, s, layers);
          const reduce = options.reduceAttention;
          if (reduce)
            reduce.onTerms(
              start + i,
              s,
              reduce.reduction.terms(manifest, layers, embeddings.tokenMasks[chunk[i].prompt]),
            );
        }
        classifierFreeGuidance(epsU, epsC, options.guidance, guided);
        ddimStep(latents[i], guided, alphas[t], alphaPrev(alphas, timesteps, s), schedule, {
          x0: x0[i],
          prev: latents[i],
        });
      }
      done++;
      const detail = options.describe
        ? options.describe(chunk)
        : promptsInWords(chunk.map((r) => embeddings.prompts[r.prompt]));
      ctx.onProgress?.({ stage, done, total, detail });
    }
    if (result.images) chunk.forEach((_, i) => (result.images![start + i] = x0[i]));
  }
  return result;
}

/** Row `row` of a [batch, ...] attention output, as a view (no copy). */
function condRow(layer: Float32Array, batch: number, row: number): Float32Array {
  const size = layer.length / batch;
  return layer.subarray(row * size, (row + 1) * size);
}
