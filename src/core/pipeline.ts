/**
 * The generation loop, independent of where the model runs: the browser worker passes an
 * onnxruntime-web runner, Node passes onnxruntime-node. DOM-free and allocation-light.
 *
 * Batch layout: every variant (a MaskSet: baseline, pruned, ...) takes two rows, [uncond, cond],
 * so [baseline, pruned] runs as ONE UNet batch of 4. All variants start from the same noise.
 */
import type { Manifest } from './manifest';
import type { MaskSet } from './masks';

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

export interface TokenInfo {
  ids: number[];
  words: string[];
  unknownWords: string[];
  truncated: boolean;
}

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

export declare function generate(
  runner: ModelRunner,
  manifest: Manifest,
  request: GenerateRequest,
  signal?: AbortSignal,
): AsyncGenerator<StepEvent, GenerateResult, void>;
