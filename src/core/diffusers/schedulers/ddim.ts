/**
 * DDIMScheduler (Song et al. 2021) with eta 0, as diffusers' step computes it: the previous
 * timestep is t - T // steps (not the next listed one), the last step uses alphas_cumprod[0] or 1
 * (set_alpha_to_one), x0 is clipped (clip_sample) or dynamically thresholded, and
 * use_clipped_model_output re-derives the noise from the clipped x0. Arithmetic is rounded to
 * float32 after every operation, as torch does on float32 tensors.
 */
import type { DdimConfig } from './config';
import { alphasCumprodFromConfig, checkSteps, f32, spacedTimesteps } from './noise-schedule';
import type { Scheduler, SchedulerStep } from './scheduler';

export interface DdimOptions {
  /** diffusers' step(use_clipped_model_output=...) argument; the pipelines pass false */
  useClippedModelOutput?: boolean;
}

/** torch.quantile(|x|, q) with linear interpolation, as diffusers' _threshold_sample uses it. */
function quantileOfAbs(x: Float32Array, q: number): number {
  const sorted = Float64Array.from(x, Math.abs).sort();
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export class DdimScheduler implements Scheduler {
  readonly className = 'DDIMScheduler' as const;
  readonly timesteps: Float32Array;
  readonly initNoiseSigma = 1;
  readonly predictionType: DdimConfig['prediction_type'];
  private readonly alphas: Float32Array;
  private readonly finalAlpha: number;
  private readonly stride: number;

  constructor(
    readonly config: DdimConfig,
    steps: number,
    private readonly options: DdimOptions = {},
  ) {
    const T = config.num_train_timesteps;
    checkSteps(steps, T);
    this.predictionType = config.prediction_type;
    this.alphas = alphasCumprodFromConfig(config);
    this.finalAlpha = config.set_alpha_to_one ? 1 : this.alphas[0];
    this.timesteps = Float32Array.from(spacedTimesteps(config.timestep_spacing, steps, T, config.steps_offset));
    this.stride = Math.floor(T / steps);
    for (const t of this.timesteps) {
      if (t < 0 || t >= T) throw new RangeError(`DDIM timestep ${t} is outside 0..${T - 1} (steps_offset too large?)`);
    }
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep {
    const t = this.timesteps[index];
    const prevT = t - this.stride;
    const a = this.alphas[t];
    const ap = prevT >= 0 ? this.alphas[prevT] : this.finalAlpha;
    const b = f32(1 - a);
    const sqrtA = f32(Math.sqrt(a));
    const sqrtB = f32(Math.sqrt(b));
    const n = sample.length;
    const x0 = new Float32Array(n);
    const eps = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const s = sample[i];
      const m = modelOutput[i];
      if (this.predictionType === 'epsilon') {
        x0[i] = f32(s - f32(sqrtB * m)) / sqrtA;
        eps[i] = m;
      } else if (this.predictionType === 'v_prediction') {
        x0[i] = f32(sqrtA * s) - f32(sqrtB * m);
        eps[i] = f32(sqrtA * m) + f32(sqrtB * s);
      } else {
        x0[i] = m;
        eps[i] = f32(s - f32(sqrtA * m)) / sqrtB;
      }
    }
    const { clip_sample, clip_sample_range, thresholding } = this.config;
    let clipped = false;
    if (thresholding) {
      // per image: s = clamp(quantile(|x0|, ratio), 1, sample_max_value); x0 = clamp(x0, -s, s) / s
      const s = f32(
        Math.min(Math.max(quantileOfAbs(x0, this.config.dynamic_thresholding_ratio), 1), this.config.sample_max_value),
      );
      for (let i = 0; i < n; i++) x0[i] = Math.min(Math.max(x0[i], -s), s) / s;
      clipped = true;
    } else if (clip_sample) {
      for (let i = 0; i < n; i++) x0[i] = Math.min(Math.max(x0[i], -clip_sample_range), clip_sample_range);
      clipped = true;
    }
    if (clipped && this.options.useClippedModelOutput) {
      for (let i = 0; i < n; i++) eps[i] = f32(sample[i] - f32(sqrtA * x0[i])) / sqrtB;
    }
    const sqrtAp = f32(Math.sqrt(ap));
    const dirCoeff = f32(Math.sqrt(f32(1 - ap)));
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) prev[i] = f32(sqrtAp * x0[i]) + f32(dirCoeff * eps[i]);
    return { prevSample: prev, predOriginal: x0 };
  }
}
