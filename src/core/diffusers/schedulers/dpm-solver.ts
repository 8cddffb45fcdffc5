/**
 * DPMSolverMultistepScheduler (Lu et al. 2022, DPM-Solver and DPM-Solver++) as diffusers runs
 * it, deterministic forms only: first, second (midpoint or Heun) and third order multistep
 * updates in log-SNR time lambda = log(alpha / sigma), with lower-order steps at the start and,
 * for short schedules, at the end. DPM-Solver++ works on the predicted x0, DPM-Solver on the
 * predicted noise. The SDE variants (which draw noise every step), learned variances, flow and
 * beta sigmas are refused by name. Elementwise arithmetic rounds to float32 where torch does.
 */
import type { DpmSolverConfig } from './config';
import { SchedulerConfigError } from './config';
import { sigmaToT } from './euler';
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

/** alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma * alpha_t and lambda = log(alpha_t) - log(sigma_t), in float32. */
function alphaSigmaLambda(sigma: number): { alpha: number; sigma: number; lambda: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const s = f32(sigma * alpha);
  return { alpha, sigma: s, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(s))) };
}

function refuseUnsupported(config: DpmSolverConfig): void {
  const refuse = (what: string) => {
    throw new SchedulerConfigError(`DPMSolverMultistepScheduler with ${what} is not supported by the lab`);
  };
  if (config.algorithm_type.startsWith('sde-'))
    refuse(`algorithm_type ${config.algorithm_type} (it adds fresh noise every step)`);
  if (config.variance_type) refuse(`variance_type ${config.variance_type} (a UNet that predicts its variance)`);
  if (config.use_beta_sigmas) refuse('use_beta_sigmas (it needs the beta distribution quantiles)');
  if (config.use_flow_sigmas || config.prediction_type === 'flow_prediction') refuse('flow matching sigmas');
  if (config.use_dynamic_shifting) refuse('use_dynamic_shifting');
  const ramps = [config.use_karras_sigmas, config.use_exponential_sigmas, config.use_lu_lambdas].filter(Boolean);
  if (ramps.length > 1)
    throw new SchedulerConfigError('only one of use_karras_sigmas, use_exponential_sigmas, use_lu_lambdas may be set');
  if (config.algorithm_type === 'dpmsolver' && config.final_sigmas_type === 'zero') {
    throw new SchedulerConfigError(
      'DPMSolverMultistepScheduler: algorithm_type dpmsolver needs final_sigmas_type sigma_min (diffusers refuses zero)',
    );
  }
}

export class DpmSolverScheduler implements Scheduler {
  readonly className = 'DPMSolverMultistepScheduler' as const;
  readonly timesteps: Float32Array;
  readonly sigmas: Float32Array;
  readonly initNoiseSigma = 1;
  readonly predictionType: 'epsilon' | 'v_prediction' | 'sample';
  private readonly algorithm: 'dpmsolver' | 'dpmsolver++';
  private readonly secondOrder: 'midpoint' | 'heun';
  private readonly order: number;
  private readonly history: Float32Array[] = [];
  private lowerOrderNums = 0;
  private counter = 0;

  constructor(
    readonly config: DpmSolverConfig,
    steps: number,
  ) {
    const T = config.num_train_timesteps;
    checkSteps(steps, T);
    refuseUnsupported(config);
    // diffusers maps the deprecated "deis" algorithm and the UniPC solver types to these
    this.algorithm = config.algorithm_type === 'dpmsolver' ? 'dpmsolver' : 'dpmsolver++';
    this.secondOrder = config.solver_type === 'heun' ? 'heun' : 'midpoint';
    this.order = config.solver_order;
    this.predictionType = config.prediction_type as 'epsilon' | 'v_prediction' | 'sample';

    const alphas = alphasCumprodFromConfig(config);
    if (config.rescale_betas_zero_snr) alphas[T - 1] = 2 ** -24;
    const trainSigmas = alphas.map((a) => Math.sqrt(f32(f32(1 - a) / a)));
    const logSigmas = trainSigmas.map(Math.log);
    // lambda_min_clipped: the schedule stops where log-SNR drops below it (searchsorted on the flipped lambdas)
    const lambdas = alphas.map((a) =>
      f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a)))))),
    );
    let clipped = 0;
    while (clipped < T && lambdas[T - 1 - clipped] < config.lambda_min_clipped) clipped++;
    const last = T - clipped;

    let timesteps: number[];
    if (config.timestep_spacing === 'linspace') {
      timesteps = numpyLinspace(0, last - 1, steps + 1)
        .map(roundHalfEven)
        .reverse()
        .slice(0, -1);
    } else if (config.timestep_spacing === 'leading') {
      const ratio = Math.floor(last / (steps + 1));
      timesteps = Array.from({ length: steps }, (_, i) => (steps - i) * ratio + config.steps_offset);
    } else {
      timesteps = numpyArange(last, 0, -T / steps).map((t) => roundHalfEven(t) - 1);
    }

    const descending = Array.from(trainSigmas).reverse();
    const sigmaMin = descending[descending.length - 1];
    const sigmaMax = descending[0];
    // a ramp of sigmas, and the (rounded, except for the cosine schedule) timesteps they fall on
    const fromRamp = (values: number[], round: boolean) => ({
      sigmas: values,
      timesteps: values.map((s) => {
        const t = sigmaToT(s, logSigmas);
        return round && config.beta_schedule !== 'squaredcos_cap_v2' ? roundHalfEven(t) : t;
      }),
    });
    const ramp = numpyLinspace(0, 1, steps);
    let schedule: { sigmas: number[]; timesteps: number[] };
    if (config.use_karras_sigmas) {
      const minInv = sigmaMin ** (1 / 7);
      const maxInv = sigmaMax ** (1 / 7);
      schedule = fromRamp(
        ramp.map((r) => (maxInv + r * (minInv - maxInv)) ** 7),
        true,
      );
    } else if (config.use_lu_lambdas) {
      const [lambdaMin, lambdaMax] = [Math.log(sigmaMin), Math.log(sigmaMax)];
      schedule = fromRamp(
        ramp.map((r) => Math.exp(lambdaMax + r * (lambdaMin - lambdaMax))),
        true,
      );
    } else if (config.use_exponential_sigmas) {
      schedule = fromRamp(numpyLinspace(Math.log(sigmaMax), Math.log(sigmaMin), steps).map(Math.exp), false);
    } else {
      schedule = { sigmas: timesteps.map((t) => interpOnIndex(t, trainSigmas)), timesteps };
    }
    const finalSigma = config.final_sigmas_type === 'sigma_min' ? trainSigmas[0] : 0;
    this.sigmas = Float32Array.from([...schedule.sigmas, finalSigma]);
    // diffusers keeps integer timesteps (torch int64: fractional ones are truncated)
    this.timesteps = Float32Array.from(schedule.timesteps, Math.trunc);
    if (this.timesteps.some((t) => t < 0)) {
      throw new RangeError(
        `DPMSolverMultistep's "${config.timestep_spacing}" spacing gives a negative timestep for ${steps} steps ` +
          `in diffusers (numpy's arange rounding); choose ${steps - 1} or ${steps + 1} steps`,
      );
    }
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** diffusers' convert_model_output: x0 for DPM-Solver++, the noise for DPM-Solver. */
  private convert(modelOutput: Float32Array, sample: Float32Array, index: number): Float32Array {
    const { alpha, sigma } = alphaSigmaLambda(this.sigmas[index]);
    const n = sample.length;
    const out = new Float32Array(n);
    const p = this.predictionType;
    let x0: Float32Array | undefined;
    if (this.algorithm === 'dpmsolver++' || this.config.thresholding) {
      x0 = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const s = sample[i];
        const m = modelOutput[i];
        x0[i] =
          p === 'epsilon'
            ? f32(s - f32(sigma * m)) / alpha
            : p === 'v_prediction'
              ? f32(alpha * s) - f32(sigma * m)
              : m;
      }
      if (this.config.thresholding)
        thresholdPerImage(x0, this.config.dynamic_thresholding_ratio, this.config.sample_max_value);
      if (this.algorithm === 'dpmsolver++') return x0;
    }
    for (let i = 0; i < n; i++) {
      const s = sample[i];
      const m = modelOutput[i];
      out[i] = x0
        ? f32(s - f32(alpha * x0[i])) / sigma
        : p === 'epsilon'
          ? m
          : p === 'v_prediction'
            ? f32(alpha * m) + f32(sigma * s)
            : f32(s - f32(alpha * m)) / sigma;
    }
    return out;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep {
    if (index !== this.counter)
      throw new Error(`DPM-Solver steps must run in order: expected call ${this.counter}, got ${index}`);
    const n = this.timesteps.length;
    const shortSchedule = this.config.lower_order_final && n < 15;
    const lowerOrderFinal =
      index === n - 1 && (this.config.euler_at_final || shortSchedule || this.config.final_sigmas_type === 'zero');
    const lowerOrderSecond = index === n - 2 && shortSchedule;
    const converted = this.convert(modelOutput, sample, index);
    this.history.push(converted);
    if (this.history.length > this.order) this.history.shift();

    let prev: Float32Array;
    if (this.order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal)
      prev = this.firstOrder(converted, sample, index);
    else if (this.order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond)
      prev = this.secondOrderUpdate(sample, index);
    else prev = this.thirdOrderUpdate(sample, index);
    if (this.lowerOrderNums < this.order) this.lowerOrderNums++;
    this.counter++;
    return { prevSample: prev, predOriginal: this.x0Of(converted, sample, index) };
  }

  /** The clean-latents estimate behind a converted output (for previews). */
  private x0Of(converted: Float32Array, sample: Float32Array, index: number): Float32Array {
    if (this.algorithm === 'dpmsolver++') return converted;
    const { alpha, sigma } = alphaSigmaLambda(this.sigmas[index]);
    return sample.map((s, i) => (s - sigma * converted[i]) / alpha);
  }

  private firstOrder(m: Float32Array, sample: Float32Array, i: number): Float32Array {
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s = alphaSigmaLambda(this.sigmas[i]);
    const h = f32(t.lambda - s.lambda);
    if (this.algorithm === 'dpmsolver++') {
      const a = f32(t.sigma / s.sigma);
      const b = f32(t.alpha * f32(f32(Math.exp(-h)) - 1));
      return sample.map((x, k) => f32(a * x) - f32(b * m[k]));
    }
    const a = f32(t.alpha / s.alpha);
    const b = f32(t.sigma * f32(f32(Math.exp(h)) - 1));
    return sample.map((x, k) => f32(a * x) - f32(b * m[k]));
  }

  private secondOrderUpdate(sample: Float32Array, i: number): Float32Array {
    const [m1, m0] = this.history.slice(-2);
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s0 = alphaSigmaLambda(this.sigmas[i]);
    const s1 = alphaSigmaLambda(this.sigmas[i - 1]);
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / h);
    const inv = f32(1 / r0);
    const d1 = m0.map((v, k) => inv * f32(v - m1[k]));
    let a: number;
    let c0: number;
    let c1: number; // x = a x_s - c0 D0 + c1 D1
    if (this.algorithm === 'dpmsolver++') {
      const e = f32(f32(Math.exp(-h)) - 1);
      a = f32(t.sigma / s0.sigma);
      c0 = f32(t.alpha * e);
      c1 = this.secondOrder === 'midpoint' ? -f32(0.5 * c0) : f32(t.alpha * f32(f32(e / h) + 1));
    } else {
      const e = f32(f32(Math.exp(h)) - 1);
      a = f32(t.alpha / s0.alpha);
      c0 = f32(t.sigma * e);
      c1 = this.secondOrder === 'midpoint' ? -f32(0.5 * c0) : -f32(t.sigma * f32(f32(e / h) - 1));
    }
    return sample.map((x, k) => f32(f32(f32(a * x) - f32(c0 * m0[k])) + f32(c1 * d1[k])));
  }

  private thirdOrderUpdate(sample: Float32Array, i: number): Float32Array {
    const [m2, m1, m0] = this.history.slice(-3);
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s0 = alphaSigmaLambda(this.sigmas[i]);
    const s1 = alphaSigmaLambda(this.sigmas[i - 1]);
    const s2 = alphaSigmaLambda(this.sigmas[i - 2]);
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const h1 = f32(s1.lambda - s2.lambda);
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const d10 = m0.map((v, k) => f32(1 / r0) * f32(v - m1[k]));
    const d11 = m1.map((v, k) => f32(1 / r1) * f32(v - m2[k]));
    const w = f32(r0 / f32(r0 + r1));
    const w2 = f32(1 / f32(r0 + r1));
    const d1 = d10.map((v, k) => v + f32(w * f32(v - d11[k])));
    const d2 = d10.map((v, k) => w2 * f32(v - d11[k]));
    let a: number;
    let c0: number;
    let c1: number;
    let c2: number; // x = a x_s - c0 D0 + c1 D1 - c2 D2
    if (this.algorithm === 'dpmsolver++') {
      const e = f32(f32(Math.exp(-h)) - 1);
      a = f32(t.sigma / s0.sigma);
      c0 = f32(t.alpha * e);
      c1 = f32(t.alpha * f32(f32(e / h) + 1));
      c2 = f32(t.alpha * f32(f32(f32(e + h) / f32(h * h)) - 0.5));
    } else {
      const e = f32(f32(Math.exp(h)) - 1);
      a = f32(t.alpha / s0.alpha);
      c0 = f32(t.sigma * e);
      c1 = -f32(t.sigma * f32(f32(e / h) - 1));
      c2 = f32(t.sigma * f32(f32(f32(e - h) / f32(h * h)) - 0.5));
    }
    return sample.map((x, k) => f32(f32(f32(f32(a * x) - f32(c0 * m0[k])) + f32(c1 * d1[k])) - f32(c2 * d2[k])));
  }
}

/** diffusers' dynamic thresholding of x0 over the whole image (see DdimScheduler). */
function thresholdPerImage(x0: Float32Array, ratio: number, maxValue: number): void {
  const sorted = Float64Array.from(x0, Math.abs).sort();
  const pos = ratio * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, sorted.length - 1);
  const q = sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  const s = f32(Math.min(Math.max(q, 1), maxValue));
  for (let i = 0; i < x0.length; i++) x0[i] = Math.min(Math.max(x0[i], -s), s) / s;
}
