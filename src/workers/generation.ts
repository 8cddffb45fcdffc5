/**
 * One generate request inside the worker: runs the core pipeline and turns its steps and result
 * into protocol events (RGBA previews ready to draw, float images for exact comparison). Captured
 * attention is handed to `shareAttention` (the channel to the analysis worker), not to the UI.
 * Variants that already ran for the same experiment come from `cache` (core/variant-cache.ts): a
 * head click runs the pruned variant alone and reuses the unpruned one.
 */
import { chwToRgba } from '../core/image';
import { allOnes, type MaskSet } from '../core/masks';
import { generateLatent } from '../core/diffusers/latent-pipeline';
import type { GenerateRequest } from '../core/pipeline';
import { generateCached, type VariantCache } from '../core/variant-cache';
import type { LoadedLatentModel } from './load-latent';
import type { LoadedModel } from './load-model';
import type { GenerateParams, RgbaImage, WorkerEvent } from './protocol';
import { yieldToEventLoop } from './yield';

export class Cancelled extends Error {
  constructor() {
    super('The generation was cancelled.');
    this.name = 'Cancelled';
  }
}

function rgba(model: LoadedModel | LoadedLatentModel, chw: Float32Array): RgbaImage {
  const { width, height } = model.manifest.image;
  return { width, height, data: chwToRgba(chw, width, height) };
}

export async function runGeneration(
  model: LoadedModel | LoadedLatentModel,
  id: number,
  params: GenerateParams,
  variants: MaskSet[] | undefined,
  signal: AbortSignal,
  emit: (event: WorkerEvent) => void,
  /** gives the generation's attention away (transferred); false when nobody could take it */
  shareAttention: (generation: number, attention: Float32Array[][][]) => boolean,
  /** variant runs of the loaded model (cleared when another model loads) */
  cache: VariantCache,
): Promise<void> {
  if (model.kind === 'latent') {
    await runLatentGeneration(model, id, params, variants, signal, emit, shareAttention);
    return;
  }
  const request: GenerateRequest = {
    prompt: params.prompt,
    seed: params.seed,
    steps: params.steps,
    guidance: params.guidance,
    // Every variant shares the batch and the seed's noise, so they differ by their masks alone.
    variants: variants && variants.length > 0 ? variants : [allOnes(model.manifest)],
    captureAttention: params.captureAttention,
  };
  const steps = generateCached(model.runner, model.manifest, request, cache, signal);
  for (;;) {
    await yieldToEventLoop();
    // Checked here too: a superseded run must stop at the step boundary even if the pipeline
    // itself does not look at the signal.
    if (signal.aborted) {
      await steps.return(undefined as never);
      throw new Cancelled();
    }
    const next = await steps.next();
    if (next.done) {
      const result = next.value;
      // Each captured array is the pipeline's own copy of one row, so it can be transferred as it is.
      const sharedAttention = result.attention ? shareAttention(id, result.attention) : false;
      emit({
        type: 'result',
        id,
        images: result.images.map((img) => rgba(model, img)),
        raw: result.images.map((img) => Float32Array.from(img)),
        noiseGaps: result.noiseGaps,
        ...(sharedAttention ? { sharedAttention } : {}),
        tokens: result.tokens,
        timings: result.timings,
      });
      return;
    }
    const step = next.value;
    emit({
      type: 'step',
      id,
      step: step.step,
      of: step.of,
      timestep: step.timestep,
      previews: step.previews.map((p) => rgba(model, p)),
      noiseGap: step.noiseGap,
    });
  }
}

/** Decoding a step preview costs a VAE call: about every fifth step keeps the UI moving and the run fast. */
const PREVIEW_EVERY_FRACTION = 5;

/**
 * The same protocol for a latent (Stable-Diffusion-family) model: step previews are the predicted
 * clean latents decoded through the VAE at a cadence, not every step; attention per step is
 * gathered for the analysis worker as with the organism.
 */
async function runLatentGeneration(
  model: LoadedLatentModel,
  id: number,
  params: GenerateParams,
  variants: MaskSet[] | undefined,
  signal: AbortSignal,
  emit: (event: WorkerEvent) => void,
  shareAttention: (generation: number, attention: Float32Array[][][]) => boolean,
): Promise<void> {
  const masks = model.manifest.unet.masks;
  const sets = variants && variants.length > 0 ? variants : [allOnes(model.manifest)];
  const steps = generateLatent(
    model.runner,
    { model: model.model, masks },
    {
      prompt: params.prompt,
      seed: params.seed,
      steps: params.steps,
      guidance: params.guidance,
      variants: sets,
      captureAttention: params.captureAttention,
      previewEvery: Math.max(1, Math.round(params.steps / PREVIEW_EVERY_FRACTION)),
    },
    signal,
  );
  const attention: Float32Array[][][] = [];
  const zeros = () => sets.map(() => 0);
  const gpu = model.contextOnGpu;
  const before = gpu ? { ...gpu } : null;
  for (;;) {
    await yieldToEventLoop();
    if (signal.aborted) {
      await steps.return(undefined as never);
      throw new Cancelled();
    }
    const next = await steps.next();
    if (next.done) {
      const result = next.value;
      const shared = params.captureAttention && attention.length ? shareAttention(id, attention) : false;
      const tokenizer = model.model.tokenizer;
      emit({
        type: 'result',
        id,
        images: result.images.map((img) => rgba(model, img)),
        raw: result.images.map((img) => Float32Array.from(img)),
        // Without guidance there is no unconditional row, so no noise gap: zeros keep the shape.
        noiseGaps: result.noiseGaps ?? result.timings.stepMs.map(zeros),
        ...(shared ? { sharedAttention: true } : {}),
        tokens: {
          ids: result.tokens.ids,
          words: params.prompt.trim().split(/\s+/).filter(Boolean),
          unknownWords: [],
          truncated: result.tokens.truncated,
          labels: result.tokens.ids.map((tokenId) => tokenizer.label(tokenId)),
        },
        timings: {
          textMs: result.timings.textMs,
          stepMs: result.timings.stepMs,
          totalMs: result.timings.totalMs,
        },
        ...(gpu && before
          ? { contextOnGpu: { uploads: gpu.uploads - before.uploads, reuses: gpu.reuses - before.reuses } }
          : {}),
      });
      return;
    }
    const step = next.value;
    if (step.attention) attention.push(step.attention);
    emit({
      type: 'step',
      id,
      step: step.step,
      of: step.of,
      timestep: step.timestep,
      previews: (step.previews ?? []).map((p) => rgba(model, p)),
      noiseGap: step.noiseGap ?? zeros(),
    });
  }
}
