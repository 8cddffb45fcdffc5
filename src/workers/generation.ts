/**
 * One generate request inside the worker: runs the core pipeline and turns its steps and result
 * into protocol events (RGBA previews ready to draw, float images for exact comparison). Captured
 * attention is handed to `shareAttention` (the channel to the analysis worker), not to the UI.
 */
import { chwToRgba } from '../core/image';
import { allOnes, type MaskSet } from '../core/masks';
import { generate, type GenerateRequest } from '../core/pipeline';
import type { LoadedModel } from './load-model';
import type { GenerateParams, RgbaImage, WorkerEvent } from './protocol';
import { yieldToEventLoop } from './yield';

export class Cancelled extends Error {
  constructor() {
    super('The generation was cancelled.');
    this.name = 'Cancelled';
  }
}

function rgba(model: LoadedModel, chw: Float32Array): RgbaImage {
  const { width, height } = model.manifest.image;
  return { width, height, data: chwToRgba(chw, width, height) };
}

export async function runGeneration(
  model: LoadedModel,
  id: number,
  params: GenerateParams,
  variants: MaskSet[] | undefined,
  signal: AbortSignal,
  emit: (event: WorkerEvent) => void,
  /** gives the generation's attention away (transferred); false when nobody could take it */
  shareAttention: (generation: number, attention: Float32Array[][][]) => boolean,
): Promise<void> {
  const request: GenerateRequest = {
    prompt: params.prompt,
    seed: params.seed,
    steps: params.steps,
    guidance: params.guidance,
    // Every variant shares the batch and the seed's noise, so they differ by their masks alone.
    variants: variants && variants.length > 0 ? variants : [allOnes(model.manifest)],
    captureAttention: params.captureAttention,
  };
  const steps = generate(model.runner, model.manifest, request, signal);
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
