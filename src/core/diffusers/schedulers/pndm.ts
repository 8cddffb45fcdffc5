/**
 * PNDMScheduler (Liu et al. 2022) as diffusers runs it. With skip_prk_steps (Stable Diffusion 1.x)
 * only the linear multistep (PLMS) part runs and the second timestep is listed twice: 5 steps give
 * 801, 601, 601, 401, 201, 1, six UNet calls; the first two calls form one second-order step from
 * 801 to 601. Without skip_prk_steps, 12 Runge-Kutta (PRK) calls come first. The step keeps the
 * past model outputs, so one instance follows one image. Arithmetic rounds to float32 after every
 * operation, as torch does on float32 tensors.
 */
import type { PndmConfig } from './config';
import { alphasCumprodFromConfig, checkSteps, f32, numpyArange, numpyLinspace, roundHalfEven } from './noise-schedule';
import type { Scheduler, SchedulerStep } from './scheduler';

const ORDER = 4;

/** The base timesteps in ascending order (PNDM's `_timesteps`). */
function baseTimesteps(config: PndmConfig, steps: number): number[] {
  const T = config.num_train_timesteps;
  if (config.timestep_spacing === 'linspace') return numpyLinspace(0, T - 1, steps).map(roundHalfEven);
  if (config.timestep_spacing === 'leading') {
    const ratio = Math.floor(T / steps);
    return Array.from({ length: steps }, (_, i) => i * ratio + config.steps_offset);
  }
  return numpyArange(T, 0, -T / steps)
    .map((t) => roundHalfEven(t) - 1)
    .reverse();
}

/** a * x + b * y rounded as torch rounds `a * x + b * y` on float32 tensors. */
const axpby = (a: number, x: number, b: number, y: number) => f32(f32(a * x) + f32(b * y));

export class PndmScheduler implements Scheduler {
  readonly className = 'PNDMScheduler' as const;
  readonly timesteps: Float32Array;
  readonly initNoiseSigma = 1;
  readonly predictionType: PndmConfig['prediction_type'];
  private readonly alphas: Float32Array;
  private readonly finalAlpha: number;
  private readonly stride: number;
  private readonly prkCount: number;
  private readonly prkTimesteps: number[];
  // diffusers' mutable state: the counter of step calls, past model outputs, the sample the
  // current multi-call step started from, and the PRK accumulator
  private counter = 0;
  private ets: Float32Array[] = [];
  private curSample: Float32Array | null = null;
  private curModelOutput: Float32Array | null = null;

  constructor(
    readonly config: PndmConfig,
    steps: number,
  ) {
    const T = config.num_train_timesteps;
    checkSteps(steps, T);
    this.predictionType = config.prediction_type;
    this.alphas = alphasCumprodFromConfig(config);
    this.finalAlpha = config.set_alpha_to_one ? 1 : this.alphas[0];
    this.stride = Math.floor(T / steps);
    const base = baseTimesteps(config, steps);
    let prk: number[] = [];
    let plms: number[];
    if (config.skip_prk_steps) {
      plms = [...base.slice(0, -1), ...base.slice(-2, -1), ...base.slice(-1)].reverse();
    } else {
      if (steps < ORDER) throw new RangeError(`PNDM without skip_prk_steps needs at least ${ORDER} steps`);
      const half = Math.floor(this.stride / 2);
      const pairs = base.slice(-ORDER).flatMap((t) => [t, t + half]);
      prk = pairs
        .slice(0, -1)
        .flatMap((t) => [t, t])
        .slice(1, -1)
        .reverse();
      plms = base.slice(0, -3).reverse();
    }
    this.prkCount = prk.length;
    this.prkTimesteps = prk;
    this.timesteps = Float32Array.from([...prk, ...plms]);
    for (const t of this.timesteps) {
      if (t < 0 || t >= T) throw new RangeError(`PNDM timestep ${t} is outside 0..${T - 1}`);
    }
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  step(modelOutput: Float32Array, index: number, sample: Float32Array): SchedulerStep {
    if (index !== this.counter)
      throw new Error(`PNDM steps must run in order: expected call ${this.counter}, got ${index}`);
    const t = this.timesteps[index];
    const predOriginal = this.predictOriginal(modelOutput, t, sample);
    const prevSample =
      this.counter < this.prkCount && !this.config.skip_prk_steps
        ? this.stepPrk(modelOutput, t, sample)
        : this.stepPlms(modelOutput, t, sample);
    this.counter++;
    return { prevSample, predOriginal };
  }

  private stepPrk(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    const diffToPrev = this.counter % 2 ? 0 : Math.floor(this.stride / 2);
    const prevTimestep = timestep - diffToPrev;
    const t = this.prkTimesteps[Math.floor(this.counter / 4) * 4];
    let output = modelOutput;
    const phase = this.counter % 4;
    const acc = this.curModelOutput ?? new Float32Array(modelOutput.length);
    const add = (w: number) => {
      for (let i = 0; i < acc.length; i++) acc[i] = acc[i] + f32(w * modelOutput[i]);
    };
    if (phase === 0) {
      add(f32(1 / 6));
      this.curModelOutput = acc;
      this.ets.push(modelOutput.slice());
      this.curSample = sample.slice();
    } else if (phase === 1 || phase === 2) {
      add(f32(1 / 3));
      this.curModelOutput = acc;
    } else {
      const w = f32(1 / 6);
      output = acc.map((v, i) => v + f32(w * modelOutput[i]));
      this.curModelOutput = null;
    }
    return this.prevSample(this.curSample ?? sample, t, prevTimestep, output);
  }

  private stepPlms(modelOutput: Float32Array, timestep: number, sample: Float32Array): Float32Array {
    if (!this.config.skip_prk_steps && this.ets.length < 3) {
      throw new Error('PNDM reached its multistep part before 3 Runge-Kutta steps');
    }
    let t = timestep;
    let prevTimestep = t - this.stride;
    if (this.counter !== 1) {
      this.ets = this.ets.slice(-3);
      this.ets.push(modelOutput.slice());
    } else {
      prevTimestep = t;
      t = t + this.stride;
    }
    const e = this.ets;
    const k = e.length;
    let output: Float32Array;
    let from = sample;
    if (k === 1 && this.counter === 0) {
      output = modelOutput;
      this.curSample = sample.slice();
    } else if (k === 1 && this.counter === 1) {
      output = modelOutput.map((m, i) => f32(m + e[0][i]) / 2);
      from = this.curSample ?? sample;
      this.curSample = null;
    } else if (k === 2) {
      output = e[1].map((v, i) => f32(f32(3 * v) - e[0][i]) / 2);
    } else if (k === 3) {
      output = e[2].map((v, i) => f32(f32(f32(23 * v) - f32(16 * e[1][i])) + f32(5 * e[0][i])) / 12);
    } else {
      const w = f32(1 / 24);
      output = e[3].map((v, i) => {
        const sum = f32(f32(f32(f32(55 * v) - f32(59 * e[2][i])) + f32(37 * e[1][i])) - f32(9 * e[0][i]));
        return w * sum;
      });
    }
    return this.prevSample(from, t, prevTimestep, output);
  }

  /** diffusers' _get_prev_sample: formula (9) of the PNDM paper. */
  private prevSample(sample: Float32Array, t: number, prevT: number, modelOutput: Float32Array): Float32Array {
    const a = this.alphas[t];
    const ap = prevT >= 0 ? this.alphas[prevT] : this.finalAlpha;
    const b = f32(1 - a);
    const bp = f32(1 - ap);
    let eps = modelOutput;
    if (this.predictionType === 'v_prediction') {
      const sa = f32(Math.sqrt(a));
      const sb = f32(Math.sqrt(b));
      eps = modelOutput.map((m, i) => axpby(sa, m, sb, sample[i]));
    }
    const sampleCoeff = f32(Math.sqrt(f32(ap / a)));
    const denom = f32(f32(a * f32(Math.sqrt(bp))) + f32(Math.sqrt(f32(f32(a * b) * ap))));
    const diff = f32(ap - a);
    return sample.map((s, i) => f32(sampleCoeff * s) - f32(f32(diff * eps[i]) / denom));
  }

  /** x0 from the model output at timestep t (not part of diffusers' PNDM; used for previews). */
  private predictOriginal(modelOutput: Float32Array, t: number, sample: Float32Array): Float32Array {
    const a = this.alphas[t];
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    return this.predictionType === 'v_prediction'
      ? sample.map((s, i) => sa * s - sb * modelOutput[i])
      : sample.map((s, i) => (s - sb * modelOutput[i]) / sa);
  }
}
