/**
 * Noise schedule and the DDIM update, matching training/memlab (model.py alphas_cumprod and
 * sampling.py ddim_timesteps / ddim_sample). Pure functions; the per-step ones write into
 * caller-owned buffers so the sampling loop does not allocate.
 */
import type { Manifest } from './manifest';

type Schedule = NonNullable<Manifest['schedule']>;

/** torch.linspace(start, end, n, dtype=float64): the first half counts up from start, the second down from end. */
export function linspaceLikeTorch(start: number, end: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = start;
    return out;
  }
  const step = (end - start) / (n - 1);
  const halfway = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < halfway ? start + step * i : end - step * (n - 1 - i);
  return out;
}

/** cumprod(1 - betas) in float64, then rounded to float32 (as training does). */
export function alphasCumprod(schedule: Schedule): Float32Array {
  const betas = linspaceLikeTorch(schedule.betaStart, schedule.betaEnd, schedule.trainSteps);
  const out = new Float32Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= 1 - betas[i];
    out[i] = product;
  }
  return out;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Trailing DDIM timesteps t_i = round(T - i*T/steps) - 1, i = 0..steps-1; the first is T-1 (pure noise). */
export function ddimTimesteps(steps: number, trainSteps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
    throw new RangeError(`steps must be an integer in 1..${trainSteps}, got ${steps}`);
  }
  return Array.from({ length: steps }, (_, i) => roundHalfEven(trainSteps - (i * trainSteps) / steps) - 1);
}

/** alpha_cumprod of the step after index i; 1 after the last step (the clean image). */
export function alphaPrev(alphas: Float32Array, timesteps: number[], i: number): number {
  return i + 1 < timesteps.length ? alphas[timesteps[i + 1]] : 1;
}

export interface DdimOut {
  /** predicted clean image */
  x0: Float32Array;
  /** the sample at the next (less noisy) timestep; may be the input sample itself (in place) */
  prev: Float32Array;
}

/** How a step treats x0: clip it to [-1, 1], and then re-derive the noise from the clipped x0. */
export interface DdimClipping {
  clipSample: boolean;
  /** diffusers' use_clipped_model_output (only matters with clipSample) */
  useClippedModelOutput: boolean;
}

/**
 * One deterministic DDIM step (eta = 0). With clipSample, x0 is clipped to [-1, 1]; with
 * useClippedModelOutput as well, the noise is re-derived from the clipped x0, so the update stays
 * consistent with the clipped estimate (the organism's sampler; see manifest.ts).
 */
export function ddimStep(
  sample: Float32Array,
  eps: Float32Array,
  alphaT: number,
  alphaPrevT: number,
  clipping: DdimClipping,
  out: DdimOut,
): DdimOut {
  const sqrtA = Math.sqrt(alphaT);
  const sqrt1mA = Math.sqrt(1 - alphaT);
  const sqrtAPrev = Math.sqrt(alphaPrevT);
  const sqrt1mAPrev = Math.sqrt(1 - alphaPrevT);
  const { x0, prev } = out;
  for (let i = 0; i < sample.length; i++) {
    const x = sample[i];
    let x0i = (x - sqrt1mA * eps[i]) / sqrtA;
    let epsi = eps[i];
    if (clipping.clipSample) {
      x0i = x0i < -1 ? -1 : Math.min(x0i, 1);
      if (clipping.useClippedModelOutput) epsi = (x - sqrtA * x0i) / sqrt1mA;
    }
    x0[i] = x0i;
    prev[i] = sqrtAPrev * x0i + sqrt1mAPrev * epsi;
  }
  return out;
}

/** Classifier-free guidance eps_u + g * (eps_c - eps_u), written into out. */
export function classifierFreeGuidance(
  epsUncond: Float32Array,
  epsCond: Float32Array,
  guidance: number,
  out: Float32Array,
): Float32Array {
  for (let i = 0; i < out.length; i++) out[i] = epsUncond[i] + guidance * (epsCond[i] - epsUncond[i]);
  return out;
}

/** Wen et al.'s per-step detection signal: ||eps_cond - eps_uncond||_2 over the whole image. */
export function noiseGap(epsUncond: Float32Array, epsCond: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < epsCond.length; i++) {
    const d = epsCond[i] - epsUncond[i];
    sum += d * d;
  }
  return Math.sqrt(sum);
}
