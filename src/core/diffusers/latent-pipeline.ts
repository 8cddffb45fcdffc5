/**
 * Text-to-image generation for latent diffusion models (Stable Diffusion 1.x/2.x and kin) as
 * diffusers' StableDiffusionPipeline runs it, independent of where the models run:
 *   prompt -> CLIP ids -> text encoder; seeded latents * init_noise_sigma; per scheduler timestep:
 *   scale_model_input -> UNet -> classifier-free guidance -> scheduler step; latents / scaling
 *   factor -> VAE decoder -> image.
 * Guidance above 1 runs the unconditional and the conditional prompt in one UNet batch, as
 * diffusers does; at 1 or below only the conditional row runs (no guidance, batch of one).
 * Several mask variants (baseline, pruned, ...) share one batch, [uncond, cond] per variant, and
 * start from the same latents, like the organism's pipeline (../pipeline.ts). A UNet without mask
 * inputs runs with one variant and no masks.
 */
import type { MaskSpec } from '../manifest';
import { type MaskSet, stackMaskSets } from '../masks';
import type { UNetOutputs, UNetWant } from '../pipeline';
import { gaussianNoise } from '../rng';
import type { ClipTokens } from './clip-tokenizer';
import type { LatentModel, LatentShape } from './folder';
import { createScheduler, type Scheduler } from './schedulers';
import { f32 } from './schedulers/noise-schedule';

export interface LatentUNetFeeds {
  batch: number;
  /** [batch, channels, height, width] latents after scale_model_input */
  sample: Float32Array;
  /** [batch] (fractional for Euler; the runner casts if its graph wants integers) */
  timestep: Float32Array;
  /** [batch, contextTokens, width] text embeddings */
  context: Float32Array;
  contextTokens: number;
  /** per mask input: [batch, layers, units]; empty for a UNet without masks */
  masks: Record<string, Float32Array>;
  latent: LatentShape;
}

/** What the pipeline needs from the three graphs of a latent model. */
export interface LatentRunner {
  /** ids [batch, maxLength] -> last_hidden_state [batch, maxLength, width] */
  encodeText(ids: Int32Array, batch: number): Promise<Float32Array>;
  runUNet(feeds: LatentUNetFeeds, want: UNetWant): Promise<UNetOutputs>;
  /** latents already divided by the scaling factor [batch, c, h, w] -> decoder output [batch, 3, H, W] */
  decodeLatents(latents: Float32Array, batch: number, latent: LatentShape): Promise<Float32Array>;
}

export interface LatentGenerateRequest {
  prompt: string;
  /** diffusers' negative_prompt; the unconditional prompt, '' by default */
  negativePrompt?: string;
  seed: number;
  steps: number;
  guidance: number;
  /** a scheduler other than the folder's (ddim, pndm, euler, dpm or a diffusers class name) */
  scheduler?: string;
  /** standard-normal initial latents [channels * height * width] instead of the seeded ones */
  initialLatents?: Float32Array;
  /** image size in pixels (multiples of the VAE scale factor); the UNet's default size otherwise */
  height?: number;
  width?: number;
  /** each variant starts from the same latents with its own masks; default one variant, no masks */
  variants?: MaskSet[];
  captureAttention?: boolean;
  /** decode the predicted clean image every this many steps (and at the last); 0 or absent: never */
  previewEvery?: number;
}

export interface LatentStepEvent {
  /** 1-based UNet call */
  step: number;
  of: number;
  timestep: number;
  /** per variant: latents after this step (fresh arrays every step) */
  latents: Float32Array[];
  /** per variant: the scheduler's clean-latents estimate at this step */
  predOriginal: Float32Array[];
  /** per variant: that estimate decoded, CHW in [-1, 1], at the preview cadence */
  previews?: Float32Array[];
  /** per variant, with guidance: ||eps_cond - eps_uncond||_2 (Wen et al.) */
  noiseGap?: number[];
  /** with captureAttention: [layer][variant] -> the conditional row's probabilities */
  attention?: Float32Array[][];
}

export interface LatentGenerateResult {
  /** final image per variant, CHW in [-1, 1] (the decoder output clamped, as diffusers' postprocess) */
  images: Float32Array[];
  /** final latents per variant (before division by the scaling factor) */
  latents: Float32Array[];
  imageSize: { height: number; width: number };
  tokens: ClipTokens;
  scheduler: { className: string; timesteps: number[]; initNoiseSigma: number };
  /** [step][variant], with guidance */
  noiseGaps?: number[][];
  timings: { textMs: number; stepMs: number[]; decodeMs: number; totalMs: number };
}

export interface LatentModelSpec {
  model: LatentModel;
  /** the UNet's mask inputs (an instrumented UNet), none for a plain export */
  masks?: MaskSpec[];
}

function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new DOMException(`generation aborted ${where}`, 'AbortError');
}

/** eps_u + g (eps_c - eps_u) with torch's float32 rounding, into out. */
export function guide(
  epsUncond: Float32Array,
  epsCond: Float32Array,
  guidance: number,
  out: Float32Array,
): Float32Array {
  const g = f32(guidance);
  for (let i = 0; i < out.length; i++) out[i] = epsUncond[i] + f32(g * f32(epsCond[i] - epsUncond[i]));
  return out;
}

function l2Distance(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i] - b[i]) ** 2;
  return Math.sqrt(sum);
}

/** The latent grid for a request, checking that the pixel size fits the VAE. */
export function latentShapeFor(
  model: LatentModel,
  request: Pick<LatentGenerateRequest, 'height' | 'width'>,
): LatentShape {
  const f = model.vae.scaleFactor;
  const cells = (pixels: number | undefined, fallback: number, name: string) => {
    if (pixels === undefined) return fallback;
    if (!Number.isInteger(pixels) || pixels < f || pixels % f !== 0) {
      throw new RangeError(
        `${name} must be a positive multiple of ${f} pixels (the VAE's scale factor), got ${pixels}`,
      );
    }
    return pixels / f;
  };
  return {
    channels: model.latent.channels,
    height: cells(request.height, model.latent.height, 'height'),
    width: cells(request.width, model.latent.width, 'width'),
  };
}

/** Divides by the scaling factor as torch does (float32) and decodes; clamps to [-1, 1] on request. */
export async function decodeLatents(
  runner: LatentRunner,
  model: LatentModel,
  latents: Float32Array[],
  shape: LatentShape,
  clamp: boolean,
): Promise<Float32Array[]> {
  const n = latents[0].length;
  const scaled = new Float32Array(latents.length * n);
  const sf = f32(model.vae.scalingFactor);
  latents.forEach((l, k) => {
    for (let i = 0; i < n; i++) scaled[k * n + i] = l[i] / sf;
  });
  const images = await runner.decodeLatents(scaled, latents.length, shape);
  const per = images.length / latents.length;
  return latents.map((_, k) => {
    const img = images.slice(k * per, (k + 1) * per);
    if (clamp) for (let i = 0; i < img.length; i++) img[i] = img[i] < -1 ? -1 : Math.min(img[i], 1);
    return img;
  });
}

/**
 * Generates one image per variant. Yields one event per UNet call (PNDM's repeated timestep
 * included) and returns the decoded images. Throws a DOMException named 'AbortError' at the next
 * step boundary once `signal` is aborted.
 */
export async function* generateLatent(
  runner: LatentRunner,
  spec: LatentModelSpec,
  request: LatentGenerateRequest,
  signal?: AbortSignal,
): AsyncGenerator<LatentStepEvent, LatentGenerateResult, void> {
  const start = performance.now();
  const { model } = spec;
  if (!Number.isFinite(request.guidance))
    throw new RangeError(`guidance must be a finite number, got ${request.guidance}`);
  const variants = request.variants ?? [{}];
  if (variants.length < 1) throw new Error('a generation needs at least one mask variant');
  const shape = latentShapeFor(model, request);
  const size = shape.channels * shape.height * shape.width;
  if (request.initialLatents && request.initialLatents.length !== size) {
    throw new RangeError(
      `initial latents hold ${request.initialLatents.length} values; ${shape.channels} x ${shape.height} x ` +
        `${shape.width} = ${size} are needed`,
    );
  }
  const schedulers = variants.map(() =>
    createScheduler(model.schedulerConfig, request.steps, { use: request.scheduler, modelClass: model.schedulerClass }),
  );
  const first: Scheduler = schedulers[0];
  const guided = request.guidance > 1;
  const rows = guided ? 2 : 1;
  const batch = rows * variants.length;
  const masks = stackMaskSets(spec.masks ?? [], variants, rows);

  const tokens = model.tokenizer.encode(request.prompt);
  const T = model.tokenizer.maxLength;
  const ids = new Int32Array(rows * T);
  if (guided) ids.set(model.tokenizer.encode(request.negativePrompt ?? '').ids);
  ids.set(tokens.ids, (rows - 1) * T);
  throwIfAborted(signal, 'before text encoding');
  const embeddings = await runner.encodeText(ids, rows);
  const context = new Float32Array(batch * (embeddings.length / rows));
  for (let v = 0; v < variants.length; v++) context.set(embeddings, v * embeddings.length);
  const textMs = performance.now() - start;

  // diffusers: latents = latents * init_noise_sigma (float32), for its own noise and for user latents
  const noise = request.initialLatents ?? gaussianNoise(request.seed, size);
  const sigma = f32(first.initNoiseSigma);
  const initial = noise.map((x) => x * sigma);
  let latents: Float32Array[] = variants.map(() => initial.slice());

  const sample = new Float32Array(batch * size);
  const timestep = new Float32Array(batch);
  const feeds: LatentUNetFeeds = { batch, sample, timestep, context, contextTokens: T, masks, latent: shape };
  const want: UNetWant = { attention: request.captureAttention === true, values: false };
  const every = request.previewEvery ?? 0;
  const calls = first.timesteps.length;
  const noiseGaps: number[][] = [];
  const stepMs: number[] = [];

  for (let i = 0; i < calls; i++) {
    throwIfAborted(signal, `before step ${i + 1} of ${calls}`);
    const stepStart = performance.now();
    variants.forEach((_, v) => {
      const input = schedulers[v].scaleModelInput(latents[v], i);
      for (let r = 0; r < rows; r++) sample.set(input, (v * rows + r) * size);
    });
    timestep.fill(first.timesteps[i]);
    const out = await runner.runUNet(feeds, want);
    if (out.noise.length !== batch * size) {
      throw new Error(`the UNet returned ${out.noise.length} values, expected ${batch} x ${size}`);
    }
    const gaps: number[] = [];
    const predOriginal: Float32Array[] = [];
    latents = variants.map((_, v) => {
      const cond = out.noise.subarray((v * rows + rows - 1) * size, (v * rows + rows) * size);
      let eps = cond;
      if (guided) {
        const uncond = out.noise.subarray(v * rows * size, (v * rows + 1) * size);
        gaps.push(l2Distance(cond, uncond));
        eps = guide(uncond, cond, request.guidance, new Float32Array(size));
      }
      const step = schedulers[v].step(eps, i, latents[v]);
      predOriginal.push(step.predOriginal);
      return step.prevSample;
    });
    const event: LatentStepEvent = { step: i + 1, of: calls, timestep: first.timesteps[i], latents, predOriginal };
    if (guided) {
      event.noiseGap = gaps;
      noiseGaps.push(gaps);
    }
    if (want.attention) {
      if (!out.crossAttention) throw new Error('the UNet did not return cross-attention although it was asked to');
      event.attention = out.crossAttention.map((layer) => {
        const row = layer.length / batch;
        return variants.map((_, v) => layer.slice((v * rows + rows - 1) * row, (v * rows + rows) * row));
      });
    }
    if (every > 0 && ((i + 1) % every === 0 || i === calls - 1)) {
      event.previews = await decodeLatents(runner, model, predOriginal, shape, true);
    }
    stepMs.push(performance.now() - stepStart);
    yield event;
  }
  throwIfAborted(signal, 'before decoding');
  const decodeStart = performance.now();
  const images = await decodeLatents(runner, model, latents, shape, true);
  const decodeMs = performance.now() - decodeStart;
  return {
    images,
    latents,
    imageSize: { height: shape.height * model.vae.scaleFactor, width: shape.width * model.vae.scaleFactor },
    tokens,
    scheduler: {
      className: first.className,
      timesteps: Array.from(first.timesteps),
      initNoiseSigma: first.initNoiseSigma,
    },
    ...(guided ? { noiseGaps } : {}),
    timings: { textMs, stepMs, decodeMs, totalMs: performance.now() - start },
  };
}
