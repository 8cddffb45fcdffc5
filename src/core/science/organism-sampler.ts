/**
 * The science sampler of the bundled model organism: its closed-vocabulary tokenizer and its
 * pixel-space DDIM with classifier-free guidance, exactly generate()'s arithmetic (pipeline.ts), so
 * a row here equals the matching generate() run (batch.test.ts). Its sizes come from the
 * organism's manifest (organism()), which is the only place they live.
 */
import { type Manifest, organism } from '../manifest';
import { type MaskSet, allOnes, stackMaskSets } from '../masks';
import type { ModelRunner } from '../pipeline';
import { gaussianNoise } from '../rng';
import { alphaPrev, alphasCumprod, classifierFreeGuidance, ddimStep, ddimTimesteps, noiseGap } from '../schedule';
import { tokenize, wordIndex } from '../tokenizer';
import type { PromptEmbeddings, SampleOptions, SampleResult, SampleRow } from './batch';
import { type RunContext, throwIfAborted } from './context';
import type { ScienceSampler } from './sampler';
import { promptsInWords } from './words';

export function organismSampler(runner: ModelRunner, manifest: Manifest): ScienceSampler {
  const { image, text, schedule } = organism(manifest);
  const pixels = image.channels * image.height * image.width;
  return {
    manifest,
    noiseShape: { channels: image.channels, height: image.height, width: image.width },
    callsFor: (steps) => ddimTimesteps(steps, schedule.trainSteps).length,

    async encodePrompts(prompts, ctx, chunk) {
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
    },

    sampleRows: (embeddings, maskSets, rows, options, ctx) =>
      sampleDdim(runner, manifest, embeddings, maskSets, rows, options, ctx),

    async valueOutputs(context, batch) {
      const masks = stackMaskSets(
        manifest,
        Array.from({ length: batch }, () => allOnes(manifest)),
      );
      const res = await runner.runUNet(
        {
          batch,
          sample: new Float32Array(batch * pixels),
          timestep: new Float32Array(batch).fill(schedule.trainSteps - 1),
          context,
          masks,
        },
        { attention: false, values: true },
      );
      if (!res.values) throw new Error('runner did not return value activations although it was asked to');
      return res.values;
    },

    prepareProbe(rows) {
      const sample = new Float32Array(rows * pixels);
      const noise = gaussianNoise(1, pixels);
      for (let r = 0; r < rows; r++) sample.set(noise, r * pixels);
      const context = new Float32Array(rows * text.maxTokens * text.width);
      const timestep = new Float32Array(rows).fill(Math.floor(schedule.trainSteps / 2));
      const masks = stackMaskSets(manifest, [allOnes(manifest)], rows);
      return async () => {
        await runner.runUNet({ batch: rows, sample, timestep, context, masks }, { attention: false, values: false });
      };
    },
  };
}

/** DDIM with classifier-free guidance for every row, `maxRows` rows per UNet call (see batch.ts). */
async function sampleDdim(
  runner: ModelRunner,
  manifest: Manifest,
  embeddings: PromptEmbeddings,
  maskSets: readonly MaskSet[],
  rows: readonly SampleRow[],
  options: SampleOptions,
  ctx: RunContext,
): Promise<SampleResult> {
  const { schedule, image } = organism(manifest);
  const timesteps = ddimTimesteps(options.steps, schedule.trainSteps);
  const run = Math.min(timesteps.length, options.stopAfter ?? timesteps.length);
  const alphas = alphasCumprod(schedule);
  const pixels = image.channels * image.height * image.width;
  const maxRows = options.maxRows ?? 32;
  const stage = options.stage ?? 'sample';
  const total = Math.ceil(rows.length / maxRows) * run;

  const result = emptySampleResult(rows.length, run, options);
  let done = 0;
  for (let start = 0; start < rows.length; start += maxRows) {
    const chunk = rows.slice(start, start + maxRows);
    const n = chunk.length;
    const batch = 2 * n;
    const context = guidedContext(embeddings, chunk);
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
        reportRowStep(result, options, manifest, {
          index: start + i,
          step: s,
          epsU,
          epsC,
          tokenMask: embeddings.tokenMasks[chunk[i].prompt],
          attention: () => condAttention(out.crossAttention, batch, 2 * i + 1),
        });
        classifierFreeGuidance(epsU, epsC, options.guidance, guided);
        ddimStep(latents[i], guided, alphas[t], alphaPrev(alphas, timesteps, s), schedule, {
          x0: x0[i],
          prev: latents[i],
        });
      }
      done++;
      reportCall(ctx, options, embeddings, chunk, { stage, done, total });
    }
    if (result.images) chunk.forEach((_, i) => (result.images![start + i] = x0[i]));
  }
  return result;
}

/** One row at one step, as a sampler hands it to reportRowStep. */
export interface RowStep {
  /** the row's index in the sampleRows call */
  index: number;
  step: number;
  epsU: Float32Array;
  epsC: Float32Array;
  /** the row's prompt's token mask */
  tokenMask: Uint8Array;
  /** the conditional row's cross-attention per layer (asked for only when wanted) */
  attention: () => Float32Array[];
}

/**
 * What every sampler records of one row at one step, from its unconditional and conditional noise:
 * the noise gap, the first-step difference (kept or handed on), and the conditional row's
 * cross-attention (handed on, or reduced on the spot).
 */
export function reportRowStep(result: SampleResult, options: SampleOptions, manifest: Manifest, r: RowStep): void {
  result.gaps[r.index][r.step] = noiseGap(r.epsU, r.epsC);
  if (r.step === 0 && (result.firstDifferences || options.onFirstDifference)) {
    const d = new Float32Array(r.epsC.length);
    for (let p = 0; p < d.length; p++) d[p] = r.epsC[p] - r.epsU[p];
    if (result.firstDifferences) result.firstDifferences[r.index] = d;
    options.onFirstDifference?.(r.index, d);
  }
  if (options.onAttention || options.reduceAttention) {
    const layers = r.attention();
    options.onAttention?.(r.index, r.step, layers);
    const reduce = options.reduceAttention;
    if (reduce) reduce.onTerms(r.index, r.step, reduce.reduction.terms(manifest, layers, r.tokenMask));
  }
}

/** Row `row` of every [batch, ...] cross-attention output, as views (no copy). */
export function condAttention(crossAttention: Float32Array[] | undefined, batch: number, row: number): Float32Array[] {
  if (!crossAttention) throw new Error('runner did not return cross-attention although it was asked to');
  return crossAttention.map((layer) => {
    const size = layer.length / batch;
    return layer.subarray(row * size, (row + 1) * size);
  });
}

/** A sampleRows result before any call: a gap per row and step run, the arrays asked for. */
export function emptySampleResult(rows: number, run: number, options: SampleOptions): SampleResult {
  return {
    gaps: Array.from({ length: rows }, () => new Float64Array(run)),
    ...(options.keepFirstDifference ? { firstDifferences: new Array<Float32Array>(rows) } : {}),
    ...(options.keepImages ? { images: new Array<Float32Array>(rows) } : {}),
    unetCalls: 0,
    unetMs: 0,
    unetRows: 0,
  };
}

/** The text context of one UNet call: [empty prompt, the row's prompt] per row. */
export function guidedContext(embeddings: PromptEmbeddings, chunk: readonly SampleRow[]): Float32Array {
  const { rowSize } = embeddings;
  const context = new Float32Array(2 * chunk.length * rowSize);
  chunk.forEach((r, i) => {
    context.set(embeddings.empty, 2 * i * rowSize);
    context.set(embeddings.cond.subarray(r.prompt * rowSize, (r.prompt + 1) * rowSize), (2 * i + 1) * rowSize);
  });
  return context;
}

/** Progress after a UNet call, with what the call was about in words. */
export function reportCall(
  ctx: RunContext,
  options: SampleOptions,
  embeddings: PromptEmbeddings,
  chunk: readonly SampleRow[],
  progress: { stage: string; done: number; total: number },
): void {
  const detail = options.describe
    ? options.describe(chunk)
    : promptsInWords(chunk.map((r) => embeddings.prompts[r.prompt]));
  ctx.onProgress?.({ ...progress, detail });
}
