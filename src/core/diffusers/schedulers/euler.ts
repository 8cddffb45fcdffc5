/**
 * EulerDiscreteScheduler (Karras et al. 2022, algorithm 2, without churn) as diffusers runs it.
 * The latents live in sigma space: x_t = x0 + sigma * noise with sigma = sqrt((1 - a) / a).
 * Timesteps may be fractional (linspace spacing gives 999, 749.25, ...); each one's sigma is
 * interpolated linearly in the training sigmas (or log-linearly, or on Karras' / an exponential
 * ramp). The initial noise scale is sigma_max for linspace and trailing spacing and
 * sqrt(sigma_max^2 + 1) for leading; the UNet sees x / sqrt(sigma^2 + 1). Arithmetic rounds to
 * float32 after every operation where torch does.
 */
import type { EulerConfig } from './config';
import {
  alphasCumprodFromConfig,
  checkSteps,
  f32,
  interpOnIndex,
  numpyArange,
  numpyLinspace,
  roundHalfEven,
} from './noise-schedule';
import type { Scheduler, SchedulerStep } from './scheduler';
import { SchedulerConfigError } from './config';

/** diffusers' _sigma_to_t: the fractional training timestep whose log-sigma interpolates to `sigma`. */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  // numpy: float32 log-sigmas, so lo - hi is a float32 difference; the rest is float64
  const w = Math.min(Math.max((lo - logSigma) / f32(lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

export class EulerScheduler implements Scheduler {
  readonly className = 'EulerDiscreteScheduler' as const;
  readonly timesteps: Float32Array;
  /** one per call plus the final one (0, or sigma_min) */
  readonly sigmas: Float32Array;
  readonly initNoiseSigma: number;
  readonly predictionType: 'epsilon' | 'v_prediction' | 'sample';

  constructor(
    readonly config: EulerConfig,
    steps: number,
  ) {
    const T = config.num_train_timesteps;
    checkSteps(steps, T);
    if (config.use_beta_sigmas) {
      throw new SchedulerConfigError(
        'EulerDiscreteScheduler with use_beta_sigmas needs the beta distribution quantiles (scipy) and is not supported',
      );
    }
    const ramps = [config.use_karras_sigmas, config.use_exponential_sigmas].filter(Boolean).length;
    if (ramps > 1)
      throw new SchedulerConfigError('only one of use_karras_sigmas and use_exponential_sigmas may be set');
    this.predictionType = config.prediction_type === 'original_sample' ? 'sample' : config.prediction_type;

    const alphas = alphasCumprodFromConfig(config);
    if (config.rescale_betas_zero_snr) alphas[T - 1] = 2 ** -24;
    // training sigmas in float32, index = training timestep
    const trainSigmas = alphas.map((a) => Math.sqrt(f32(f32(1 - a) / a)));
    const logSigmas = trainSigmas.map(Math.log);

    let timesteps: number[];
    if (config.timestep_spacing === 'linspace') {
      timesteps = numpyLinspace(0, T - 1, steps)
        .map(f32)
        .reverse();
    } else if (config.timestep_spacing === 'leading') {
      const ratio = Math.floor(T / steps);
      timesteps = Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + config.steps_offset);
    } else {
      timesteps = numpyArange(T, 0, -T / steps).map((t) => roundHalfEven(t) - 1);
    }

    let sigmas: number[];
    if (config.interpolation_type === 'linear') {
      sigmas = timesteps.map((t) => interpOnIndex(t, trainSigmas));
    } else {
      // torch.linspace(log(sigma_max), log(sigma_min), steps + 1).exp() in float32
      const hi = f32(Math.log(trainSigmas[T - 1]));
      const lo = f32(Math.log(trainSigmas[0]));
      sigmas = torchLinspaceF32(hi, lo, steps + 1).map((v) => f32(Math.exp(v)));
    }
    const sigmaMin = config.sigma_min ?? sigmas[sigmas.length - 1];
    const sigmaMax = config.sigma_max ?? sigmas[0];
    if (config.use_karras_sigmas) {
      const rho = 7;
      const minInv = sigmaMin ** (1 / rho);
      const maxInv = sigmaMax ** (1 / rho);
      sigmas = numpyLinspace(0, 1, steps).map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    } else if (config.use_exponential_sigmas) {
      sigmas = numpyLinspace(Math.log(sigmaMax), Math.log(sigmaMin), steps).map(Math.exp);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    }
    const last = config.final_sigmas_type === 'sigma_min' ? trainSigmas[0] : 0;
    // diffusers' interpolation and ramps yield `steps` sigmas, log_linear `steps + 1`; all get the final one
    this.sigmas = Float32Array.from([...sigmas, last]);
    if (config.timestep_type === 'continuous' && this.predictionType === 'v_prediction') {
      this.timesteps = Float32Array.from(
        this.sigmas.subarray(0, this.sigmas.length - 1),
        (s) => f32(0.25) * f32(Math.log(s)),
      );
    } else {
      this.timesteps = Float32Array.from(timesteps);
    }
    if (this.timesteps.length !== steps) {
      throw new RangeError(
        `Euler's "${config.timestep_spacing}" spacing gives ${this.timesteps.length} timesteps for ${steps} steps ` +
          `in diffusers (numpy's arange rounding); choose ${steps - 1} or ${steps + 1} steps`,
      );
    }
    let max = 0;
    for (const s of this.sigmas) max = Math.max(max, s);
    this.initNoiseSigma =
      config.timestep_spacing === 'linspace' || config.timestep_spacing === 'trailing'
        ? max
        : f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  /** sample / sqrt(sigma^2 + 1): the UNet was trained on unit-variance inputs. */
  scaleModelInput(sample: Float32Array, index: number): Float32Array {
    const s = this.sigmas[index];
    const d = f32(Math.sqrt(f32(f32(s * s) + 1)));
    return sample.map((x) => x / d);
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep {
    const sigma = this.sigmas[index];
    const dt = f32(this.sigmas[index + 1] - sigma);
    const n = sample.length;
    const x0 = new Float32Array(n);
    if (this.predictionType === 'epsilon') {
      for (let i = 0; i < n; i++) x0[i] = sample[i] - f32(sigma * modelOutput[i]);
    } else if (this.predictionType === 'v_prediction') {
      // model_output * (-sigma / (sigma^2 + 1)^0.5) + sample / (sigma^2 + 1)
      const s2p1 = f32(f32(sigma * sigma) + 1);
      const c = f32(-sigma / f32(Math.sqrt(s2p1)));
      for (let i = 0; i < n; i++) x0[i] = f32(modelOutput[i] * c) + f32(sample[i] / s2p1);
    } else {
      x0.set(modelOutput);
    }
    const prev = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const derivative = f32(f32(sample[i] - x0[i]) / sigma);
      prev[i] = sample[i] + f32(derivative * dt);
    }
    return { prevSample: prev, predOriginal: x0 };
  }
}

/** torch.linspace(start, end, n) in float32, scalar path: step and every value rounded to float32. */
function torchLinspaceF32(start: number, end: number, n: number): number[] {
  if (n === 1) return [start];
  const step = f32(f32(end - start) / (n - 1));
  const half = Math.floor(n / 2);
  return Array.from({ length: n }, (_, i) =>
    i < half ? f32(start + f32(step * i)) : f32(end - f32(step * (n - 1 - i))),
  );
}
