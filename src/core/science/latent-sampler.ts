/**
 * The science sampler of a Stable-Diffusion-family model from a diffusers folder: its CLIP
 * tokenizer and text encoder, its own scheduler (DDIM, PNDM, Euler or DPM-Solver, built from the
 * folder's config), classifier-free guidance and the VAE, with generateLatent()'s arithmetic, so a
 * row here equals the matching generateLatent() run (latent-sampler.test.ts).
 *
 * Rows of different prompts, seeds and mask sets share one UNet batch, [uncond, cond] per row. The
 * timesteps depend on the step count only, so one batch steps together; the multistep schedulers
 * (PNDM, DPM-Solver) keep history, so every row gets its own scheduler instance. The VAE runs only
 * when images are asked for: detection and localization read noise predictions alone.
 */
import type { LatentModel } from '../diffusers/folder';
import { type LatentRunner, type LatentUNetFeeds, decodeLatents, guide } from '../diffusers/latent-pipeline';
import { type Scheduler, createScheduler } from '../diffusers/schedulers';
import { f32 } from '../diffusers/schedulers/noise-schedule';
import type { Manifest } from '../manifest';
import { type MaskSet, allOnes, stackMaskSets } from '../masks';
import { gaussianNoise } from '../rng';
import { throwIfAborted } from './context';
import { condAttention, emptySampleResult, guidedContext, reportCall, reportRowStep } from './organism-sampler';
import type { ScienceSampler } from './sampler';

export interface LatentSamplerOptions {
  /** a scheduler other than the folder's (ddim, pndm, euler, dpm or a diffusers class name) */
  scheduler?: string;
}

export function latentSampler(
  runner: LatentRunner,
  model: LatentModel,
  manifest: Manifest,
  options: LatentSamplerOptions = {},
): ScienceSampler {
  const latent = { ...model.latent };
  const size = latent.channels * latent.height * latent.width;
  const T = model.tokenizer.maxLength;
  const width = manifest.text.width;
  if (manifest.text.maxTokens !== T)
    throw new Error(`the manifest says ${manifest.text.maxTokens} tokens, the tokenizer ${T}`);
  const scheduler = (steps: number): Scheduler =>
    createScheduler(model.schedulerConfig, steps, { use: options.scheduler, modelClass: model.schedulerClass });
  const feeds = (
    batch: number,
    sample: Float32Array,
    timestep: Float32Array,
    context: Float32Array,
    sets: MaskSet[],
    rowsPerSet: number,
  ): LatentUNetFeeds => ({
    batch,
    sample,
    timestep,
    context,
    contextTokens: T,
    masks: stackMaskSets(manifest, sets, rowsPerSet),
    latent,
  });
  // Any timestep serves where the output does not depend on it (value projections) or only its cost is read.
  const someTimestep = () => scheduler(1).timesteps[0];

  return {
    manifest,
    noiseShape: latent,
    callsFor: (steps) => scheduler(steps).timesteps.length,

    async encodePrompts(prompts, ctx, chunk) {
      const rowSize = T * width;
      const tokens = prompts.map((p) => model.tokenizer.encode(p));
      const encode = async (rows: number[][]) => {
        const ids = new Int32Array(rows.length * T);
        rows.forEach((r, i) => ids.set(r, i * T));
        const out = await runner.encodeText(ids, rows.length);
        if (out.length !== rows.length * rowSize)
          throw new Error(`the text encoder returned ${out.length} values, expected ${rows.length} x ${T} x ${width}`);
        return out;
      };
      throwIfAborted(ctx.signal, 'before text encoding');
      const empty = await encode([model.tokenizer.encode('').ids]);
      const cond = new Float32Array(prompts.length * rowSize);
      for (let start = 0; start < prompts.length; start += chunk) {
        throwIfAborted(ctx.signal, 'during text encoding');
        cond.set(await encode(tokens.slice(start, start + chunk).map((t) => t.ids)), start * rowSize);
      }
      // CLIP pads SD 1.x prompts with its end token: the real tokens are the first `length` (begin and end included)
      const tokenMasks = tokens.map((t) =>
        Uint8Array.from({ length: T }, (_, i) => (i < Math.min(t.length, T) ? 1 : 0)),
      );
      return { prompts: [...prompts], cond, empty, tokenMasks, rowSize, encodeBlock: chunk };
    },

    async sampleRows(embeddings, maskSets, rows, options, ctx) {
      const calls = scheduler(options.steps).timesteps.length;
      const run = Math.min(calls, options.stopAfter ?? calls);
      const maxRows = options.maxRows ?? 32;
      const stage = options.stage ?? 'sample';
      const total = Math.ceil(rows.length / maxRows) * run;
      const guided = options.guidance > 1;
      const attention = !!(options.onAttention || options.reduceAttention);
      const result = emptySampleResult(rows.length, run, options);
      let done = 0;
      for (let start = 0; start < rows.length; start += maxRows) {
        const chunk = rows.slice(start, start + maxRows);
        const n = chunk.length;
        const batch = 2 * n;
        const context = guidedContext(embeddings, chunk);
        const schedulers = chunk.map(() => scheduler(options.steps));
        const { timesteps } = schedulers[0];
        // diffusers: latents = randn * init_noise_sigma (float32)
        const sigma = f32(schedulers[0].initNoiseSigma);
        let latents: Float32Array[] = chunk.map((r) => gaussianNoise(r.seed, size).map((x) => x * sigma));
        let predOriginal: Float32Array[] = [];
        const sample = new Float32Array(batch * size);
        const timestep = new Float32Array(batch);
        const unetFeeds = feeds(
          batch,
          sample,
          timestep,
          context,
          chunk.map((r) => maskSets[r.maskSet]),
          2,
        );
        for (let s = 0; s < run; s++) {
          throwIfAborted(ctx.signal, `${stage}: before UNet call ${done + 1} of ${total}`);
          for (let i = 0; i < n; i++) {
            const input = schedulers[i].scaleModelInput(latents[i], s);
            sample.set(input, 2 * i * size);
            sample.set(input, (2 * i + 1) * size);
          }
          timestep.fill(timesteps[s]);
          const began = performance.now();
          const out = await runner.runUNet(unetFeeds, { attention, values: false });
          result.unetMs += performance.now() - began;
          result.unetCalls++;
          result.unetRows += batch;
          if (out.noise.length !== batch * size)
            throw new Error(`the UNet returned ${out.noise.length} values, expected ${batch} x ${size}`);
          predOriginal = [];
          latents = latents.map((x, i) => {
            const epsU = out.noise.subarray(2 * i * size, (2 * i + 1) * size);
            const epsC = out.noise.subarray((2 * i + 1) * size, (2 * i + 2) * size);
            reportRowStep(result, options, manifest, {
              index: start + i,
              step: s,
              epsU,
              epsC,
              tokenMask: embeddings.tokenMasks[chunk[i].prompt],
              attention: () => condAttention(out.crossAttention, batch, 2 * i + 1),
            });
            const eps = guided ? guide(epsU, epsC, options.guidance, new Float32Array(size)) : epsC;
            const step = schedulers[i].step(eps, s, x);
            predOriginal.push(step.predOriginal);
            return step.prevSample;
          });
          done++;
          reportCall(ctx, options, embeddings, chunk, { stage, done, total });
        }
        if (result.images) {
          throwIfAborted(ctx.signal, `${stage}: before decoding`);
          // all steps run: the final latents, as generateLatent decodes; else the last clean-latents estimate
          const images = await decodeLatents(runner, model, run === calls ? latents : predOriginal, latent, true);
          images.forEach((img, i) => (result.images![start + i] = img));
        }
      }
      return result;
    },

    async valueOutputs(context, batch) {
      const sets = Array.from({ length: batch }, () => allOnes(manifest));
      const timestep = new Float32Array(batch).fill(someTimestep());
      const out = await runner.runUNet(feeds(batch, new Float32Array(batch * size), timestep, context, sets, 1), {
        attention: false,
        values: true,
      });
      if (!out.values) throw new Error('the UNet did not return its value projections although it was asked to');
      return out.values;
    },

    prepareProbe(rows) {
      const sample = new Float32Array(rows * size);
      const noise = gaussianNoise(1, size);
      for (let r = 0; r < rows; r++) sample.set(noise, r * size);
      const timestep = new Float32Array(rows).fill(someTimestep());
      const unetFeeds = feeds(rows, sample, timestep, new Float32Array(rows * T * width), [allOnes(manifest)], rows);
      return async () => {
        await runner.runUNet(unetFeeds, { attention: false, values: false });
      };
    },
  };
}
