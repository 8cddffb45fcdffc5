/**
 * The generation loop, independent of where the model runs: the browser worker passes an
 * onnxruntime-web runner, Node passes onnxruntime-node. DOM-free and allocation-light.
 *
 * Batch layout: every variant (a MaskSet: baseline, pruned, ...) takes two rows, [uncond, cond],
 * so [baseline, pruned] runs as ONE UNet batch of 4. All variants start from the same noise.
 */
import { type Manifest, organism } from './manifest';
import { type MaskSet, stackMaskSets } from './masks';
import { gaussianNoise } from './rng';
import { alphaPrev, alphasCumprod, classifierFreeGuidance, ddimStep, ddimTimesteps, noiseGap } from './schedule';
import { type Tokenized, tokenize } from './tokenizer';

/** What the pipeline needs from a model backend. Shapes are row-major float32. */
export interface ModelRunner {
  /** ids: flat [b*T] or one row per prompt -> last_hidden_state [b, T, W]. */
  encodeText(ids: Int32Array | number[][]): Promise<Float32Array>;
  runUNet(feeds: UNetFeeds, want: UNetWant): Promise<UNetOutputs>;
}

export interface UNetFeeds {
  batch: number;
  /** [b, 3, H, W] */
  sample: Float32Array;
  /** [b] */
  timestep: Float32Array;
  /** [b, T, W] */
  context: Float32Array;
  /** per manifest.unet.masks name: [b, layers, units] */
  masks: Record<string, Float32Array>;
}

export interface UNetWant {
  attention: boolean;
  values: boolean;
}

export interface UNetOutputs {
  /** [b, 3, H, W] */
  noise: Float32Array;
  /** per manifest.unet.layers: [b, heads, pixels, T] */
  crossAttention?: Float32Array[];
  /** [b, layers, T, W] */
  values?: Float32Array;
}

export interface GenerateRequest {
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  /** at least one; each variant is generated from the same initial noise with its own masks */
  variants: MaskSet[];
  captureAttention: boolean;
}

export interface StepEvent {
  /** 1-based */
  step: number;
  of: number;
  timestep: number;
  /** predicted clean image per variant, CHW in [-1, 1] (when the schedule clips) */
  previews: Float32Array[];
  /** per variant: ||eps_cond - eps_uncond||_2 (Wen et al.) */
  noiseGap: number[];
  /** with captureAttention: [layer][variant] -> conditional row's probs [heads, pixels, T] */
  attention?: Float32Array[][];
}

/** The prompt's tokens, with unknown and truncated words reported (see tokenizer.ts). */
export type TokenInfo = Tokenized;

export interface GenerateTimings {
  textMs: number;
  /** per step: UNet run plus the DDIM update */
  stepMs: number[];
  totalMs: number;
}

export interface GenerateResult {
  /** final image per variant, CHW in [-1, 1] */
  images: Float32Array[];
  /** [step][variant] */
  noiseGaps: number[][];
  /** with captureAttention: [step][layer][variant] -> [heads, pixels, T] */
  attention?: Float32Array[][][];
  tokens: TokenInfo;
  timings: GenerateTimings;
}

/** Stops a superseded or cancelled request between steps. */
function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new DOMException(`generation aborted ${where}`, 'AbortError');
}

function checkRequest(request: GenerateRequest): void {
  if (request.variants.length < 1) throw new Error('a generation needs at least one mask variant');
  if (!Number.isFinite(request.guidance))
    throw new RangeError(`guidance must be a finite number, got ${request.guidance}`);
}

/** Copies each variant's cond row of one layer's attention output [2V, heads, pixels, T]. */
function conditionalRows(layerProbs: Float32Array, variants: number): Float32Array[] {
  const row = layerProbs.length / (2 * variants);
  return Array.from({ length: variants }, (_, v) => layerProbs.slice((2 * v + 1) * row, (2 * v + 2) * row));
}

/** Context [2V, T, W]: the unconditional then the conditional embedding, once per variant. */
function repeatContext(embeddings: Float32Array, variants: number): Float32Array {
  const row = embeddings.length / 2;
  const context = new Float32Array(2 * variants * row);
  for (let v = 0; v < variants; v++) context.set(embeddings, 2 * v * row);
  return context;
}

/**
 * DDIM sampling with classifier-free guidance for every variant at once. Yields one event per step
 * and returns the final images. Throws a DOMException named 'AbortError' at the next step
 * boundary once `signal` is aborted.
 */
export async function* generate(
  runner: ModelRunner,
  manifest: Manifest,
  request: GenerateRequest,
  signal?: AbortSignal,
): AsyncGenerator<StepEvent, GenerateResult, void> {
  const start = performance.now();
  checkRequest(request);
  const { schedule, text, image } = organism(manifest);
  const timesteps = ddimTimesteps(request.steps, schedule.trainSteps);
  const alphas = alphasCumprod(schedule);
  const variants = request.variants.length;
  const batch = 2 * variants;
  const pixels = image.channels * image.height * image.width;
  const masks = stackMaskSets(manifest, request.variants, 2);
  const tokens = tokenize(request.prompt, text);

  throwIfAborted(signal, 'before text encoding');
  const embeddings = await runner.encodeText([tokenize('', text).ids, tokens.ids]);
  const context = repeatContext(embeddings, variants);
  const textMs = performance.now() - start;

  // Same seed, same start for every variant, so differences come from the masks alone.
  const initial = gaussianNoise(request.seed, pixels);
  const latents = request.variants.map(() => initial.slice());
  const sample = new Float32Array(batch * pixels);
  const timestep = new Float32Array(batch);
  const guided = new Float32Array(pixels);
  const feeds: UNetFeeds = { batch, sample, timestep, context, masks };
  const want: UNetWant = { attention: request.captureAttention, values: false };

  const noiseGaps: number[][] = [];
  const attention: Float32Array[][][] = [];
  const stepMs: number[] = [];
  for (let i = 0; i < timesteps.length; i++) {
    throwIfAborted(signal, `before step ${i + 1} of ${timesteps.length}`);
    const stepStart = performance.now();
    const t = timesteps[i];
    for (let v = 0; v < variants; v++) {
      sample.set(latents[v], 2 * v * pixels);
      sample.set(latents[v], (2 * v + 1) * pixels);
    }
    timestep.fill(t);
    const out = await runner.runUNet(feeds, want);
    if (out.noise.length !== batch * pixels) {
      throw new Error(`runner returned ${out.noise.length} noise values, expected ${batch} x ${pixels}`);
    }
    const previews: Float32Array[] = [];
    const gaps: number[] = [];
    for (let v = 0; v < variants; v++) {
      const epsUncond = out.noise.subarray(2 * v * pixels, (2 * v + 1) * pixels);
      const epsCond = out.noise.subarray((2 * v + 1) * pixels, (2 * v + 2) * pixels);
      gaps.push(noiseGap(epsUncond, epsCond));
      classifierFreeGuidance(epsUncond, epsCond, request.guidance, guided);
      const x0 = new Float32Array(pixels);
      ddimStep(latents[v], guided, alphas[t], alphaPrev(alphas, timesteps, i), schedule, {
        x0,
        prev: latents[v],
      });
      previews.push(x0);
    }
    noiseGaps.push(gaps);
    const event: StepEvent = { step: i + 1, of: timesteps.length, timestep: t, previews, noiseGap: gaps };
    if (request.captureAttention) {
      if (!out.crossAttention) throw new Error('runner did not return cross-attention although it was asked to');
      event.attention = out.crossAttention.map((layer) => conditionalRows(layer, variants));
      attention.push(event.attention);
    }
    stepMs.push(performance.now() - stepStart);
    yield event;
  }
  throwIfAborted(signal, 'after the last step');
  return {
    images: latents,
    noiseGaps,
    ...(request.captureAttention ? { attention } : {}),
    tokens,
    timings: { textMs, stepMs, totalMs: performance.now() - start },
  };
}
