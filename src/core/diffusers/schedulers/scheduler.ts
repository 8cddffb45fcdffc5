/** What the latent pipeline needs from a scheduler; one instance per generated image (it may keep history). */
import type { SchedulerClass } from './config';

export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

export interface SchedulerStep {
  /** the latents after this step */
  prevSample: Float32Array;
  /** the scheduler's estimate of the clean latents at this step (for previews) */
  predOriginal: Float32Array;
}

export interface Scheduler {
  readonly className: SchedulerClass;
  /** the effective configuration (file values plus the class defaults) */
  readonly config: Readonly<Record<string, unknown>>;
  readonly predictionType: PredictionType;
  /** the UNet's timestep for each call, in order; Euler's may be fractional, PNDM repeats one */
  readonly timesteps: Float32Array;
  /** noise scale of the initial latents (diffusers multiplies user latents by it too) */
  readonly initNoiseSigma: number;
  /** diffusers' scale_model_input for call `index` (a copy; identity schedulers return the input) */
  scaleModelInput(sample: Float32Array, index: number): Float32Array;
  /** diffusers' step for call `index`: model output and sample in, next sample out */
  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep;
}
