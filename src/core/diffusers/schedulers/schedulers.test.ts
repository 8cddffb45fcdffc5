/**
 * The schedulers against diffusers itself, three ways:
 * - the shared fixture's reference runs (diffusers 0.21.4 in torch 1.13): timesteps, and the
 *   recorded guided noise replayed through our step;
 * - traces of diffusers' own scheduler classes (a recent git version, torch 2.13) on 30
 *   configurations, written by ../__fixtures__/make_fixtures.py;
 * - the formulas themselves: fed the exact prediction of a known clean sample, each
 *   deterministic scheduler must land on that sample.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLenientJson } from '../lenient-json';
import { alphasCumprodFromConfig, createScheduler, type EulerScheduler, SchedulerConfigError } from '.';
import { ddimConfigSchema } from './config';

const FIXTURE = '../shared/fixtures/tiny-sd1/';
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const shippedConfig = json(`${FIXTURE}scheduler/scheduler_config.json`);

function floats(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** max |a - b| / max |b| */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m === 0 ? d : d / m;
}

interface ReferenceRun {
  id: string;
  scheduler_class: string;
  scheduler_config: Record<string, unknown>;
  num_inference_steps: number;
  timesteps: number[];
  init_noise_sigma: number;
  tensors: Record<string, string>;
}
const runs = json(`${FIXTURE}reference/index.json`).runs as ReferenceRun[];

describe('the shared fixture reference runs (diffusers 0.21.4)', () => {
  for (const run of runs) {
    it(`${run.id}: ${run.scheduler_class} timesteps ${run.timesteps.join(', ')}, and the recorded steps`, () => {
      // DDIM is built from the shipped PNDM config, as the reference did (from_config)
      const s = createScheduler(shippedConfig, run.num_inference_steps, {
        use: run.scheduler_class === 'PNDMScheduler' ? undefined : run.scheduler_class,
      });
      expect(Array.from(s.timesteps)).toEqual(run.timesteps);
      expect(s.initNoiseSigma).toBe(run.init_noise_sigma);
      const noise = floats(`${FIXTURE}reference/${run.tensors.noise_pred}.bin`);
      const latents = floats(`${FIXTURE}reference/${run.tensors.latents}.bin`);
      let x = floats(`${FIXTURE}reference/${run.tensors.init_latents}.bin`);
      const n = x.length;
      for (let i = 0; i < s.timesteps.length; i++) {
        x = s.step(noise.subarray(i * n, (i + 1) * n), i, x).prevSample;
        // float32 rounding emulated op by op: bit-exact for DDIM; PNDM within 2e-7 (Debian's
        // torch 1.13 rounds some float32 betas one unit differently from torch 2's linspace)
        const error = relativeError(x, latents.subarray(i * n, (i + 1) * n));
        expect(error, `step ${i}`).toBeLessThan(run.scheduler_class === 'DDIMScheduler' ? 1e-12 : 2e-7);
      }
    });
  }

  it("DDIM built from SD 1.5's PNDM config takes DDIM's own defaults for the keys that config lacks", () => {
    const ddimRun = runs.find((r) => r.scheduler_class === 'DDIMScheduler');
    const ours = ddimConfigSchema.parse(shippedConfig) as Record<string, unknown>;
    for (const [key, value] of Object.entries(ddimRun?.scheduler_config ?? {})) {
      if (key in ours) expect(ours[key], key).toEqual(value);
    }
    expect(ours.clip_sample).toBe(true);
    expect(ours.set_alpha_to_one).toBe(false);
  });
});

interface TraceCase {
  name: string;
  config: Record<string, unknown>;
  use: string | null;
  steps: number;
  useClippedModelOutput: boolean;
  timesteps: number[];
  sigmas: number[] | null;
  initNoiseSigma: number;
  sample: number[];
  modelInputs: number[][];
  modelOutputs: number[][];
  prevSamples: number[][];
}
// written by Python's json, with -Infinity in DPM-Solver's effective configs
const traces = parseLenientJson(readFileSync('src/core/diffusers/__fixtures__/scheduler-traces.json', 'utf8')) as {
  cases: TraceCase[];
};

describe("diffusers' scheduler classes on 30 configurations", () => {
  it('covers DDIM, PNDM, Euler and DPM-Solver with every prediction type and spacing', () => {
    expect(traces.cases.length).toBe(30);
  });

  for (const c of traces.cases) {
    it(c.name, () => {
      const s = createScheduler(c.config, c.steps, {
        use: c.use ?? undefined,
        useClippedModelOutput: c.useClippedModelOutput,
      });
      // Torch computes the zero-terminal-SNR rescale with a vectorized sqrt that is not always
      // correctly rounded: alphas near 1 differ in their last bit, which moves those betas by up
      // to 1e-4 relative. Everything else agrees to float32 rounding.
      const zeroSnr = c.config.rescale_betas_zero_snr === true;
      const tolerance = zeroSnr ? 5e-5 : 1e-6;
      // fractional timesteps derived from sigmas (Karras, exponential) use numpy's float32 log
      const derived = c.config.use_karras_sigmas === true || c.config.use_exponential_sigmas === true;
      if (derived) expect(relativeError(s.timesteps, c.timesteps)).toBeLessThan(1e-6);
      else expect(Array.from(s.timesteps)).toEqual(c.timesteps);
      expect(Math.abs(s.initNoiseSigma - c.initNoiseSigma) / c.initNoiseSigma).toBeLessThan(2e-7);
      if (c.sigmas) expect(relativeError((s as EulerScheduler).sigmas, c.sigmas)).toBeLessThan(zeroSnr ? 1e-6 : 5e-7);

      const sigma = Math.fround(s.initNoiseSigma);
      let fed: Float32Array = Float32Array.from(c.sample, (v) => v * sigma);
      let own: Float32Array = fed;
      for (let i = 0; i < s.timesteps.length; i++) {
        expect(relativeError(s.scaleModelInput(fed, i), c.modelInputs[i]), `input ${i}`).toBeLessThan(1e-6);
        // stepping from the recorded sample isolates each step's error...
        const out = Float32Array.from(c.modelOutputs[i]);
        expect(relativeError(s.step(out, i, fed).prevSample, c.prevSamples[i]), `step ${i}`).toBeLessThan(tolerance);
        fed = Float32Array.from(c.prevSamples[i]);
      }
      // ...and a fresh scheduler stepping its own samples (PNDM keeps history) stays as close
      const again = createScheduler(c.config, c.steps, {
        use: c.use ?? undefined,
        useClippedModelOutput: c.useClippedModelOutput,
      });
      for (let i = 0; i < again.timesteps.length; i++) {
        own = again.step(Float32Array.from(c.modelOutputs[i]), i, own).prevSample;
      }
      expect(relativeError(own, c.prevSamples[c.prevSamples.length - 1])).toBeLessThan(zeroSnr ? 1e-4 : 2e-6);
    });
  }
});

describe('the update formulas, derived by hand', () => {
  // A clean sample x0 and one fixed noise e define the whole trajectory: the variance-preserving
  // x_t = sqrt(a_t) x0 + sqrt(1 - a_t) e (DDIM, PNDM) or, in Euler's sigma space, x_t = x0 + sigma_t e.
  // The exact predictions at x_t are epsilon = e, v = sqrt(a_t) e - sqrt(1 - a_t) x0 (diffusers'
  // get_velocity; with a_t = 1 / (1 + sigma^2) for Euler, whose UNet sees x_t / sqrt(1 + sigma^2)),
  // and sample = x0. A deterministic sampler fed them must stay on the trajectory and end at x0
  // (or at the last alpha's noise level when set_alpha_to_one is false).
  const x0 = Float32Array.from({ length: 16 }, (_, i) => Math.sin(i) * 0.7);
  const e = Float32Array.from({ length: 16 }, (_, i) => Math.cos(3 * i));
  const base = { ...shippedConfig, steps_offset: 1 };

  const oracle = (prediction: string, a: number) =>
    x0.map((x, i) =>
      prediction === 'epsilon' ? e[i] : prediction === 'v_prediction' ? Math.sqrt(a) * e[i] - Math.sqrt(1 - a) * x : x,
    );

  for (const prediction of ['epsilon', 'v_prediction', 'sample']) {
    it(`DDIM (${prediction}) follows the trajectory and ends at x0`, () => {
      const config = { ...base, prediction_type: prediction, clip_sample: false, set_alpha_to_one: true };
      const s = createScheduler(config, 10, { use: 'ddim' });
      const alphas = alphasCumprodFromConfig(ddimConfigSchema.parse(config));
      let x: Float32Array = x0.map(
        (v, i) => Math.sqrt(alphas[s.timesteps[0]]) * v + Math.sqrt(1 - alphas[s.timesteps[0]]) * e[i],
      );
      for (let i = 0; i < s.timesteps.length; i++) {
        const step = s.step(oracle(prediction, alphas[s.timesteps[i]]), i, x);
        expect(relativeError(step.predOriginal, x0)).toBeLessThan(1e-5);
        x = step.prevSample;
      }
      expect(relativeError(x, x0)).toBeLessThan(1e-5);
    });

    it(`Euler (${prediction}) follows the trajectory in sigma space and ends at x0`, () => {
      if (prediction === 'sample') return;
      const config = {
        ...base,
        _class_name: 'EulerDiscreteScheduler',
        prediction_type: prediction,
        timestep_spacing: 'linspace',
      };
      const s = createScheduler(config, 10) as EulerScheduler;
      expect(s.initNoiseSigma).toBe(s.sigmas[0]); // linspace spacing: sigma_max, not sqrt(sigma_max^2 + 1)
      let x: Float32Array = x0.map((v, i) => v + s.sigmas[0] * e[i]);
      for (let i = 0; i < s.timesteps.length; i++) {
        const sigma = s.sigmas[i];
        const a = 1 / (1 + sigma * sigma);
        const step = s.step(oracle(prediction, a), i, x);
        expect(relativeError(step.predOriginal, x0)).toBeLessThan(1e-5);
        x = step.prevSample;
      }
      expect(relativeError(x, x0)).toBeLessThan(1e-5);
    });
  }

  // PNDM combines past model outputs before turning v into epsilon, and v changes along the
  // trajectory, so only epsilon prediction stays on it exactly; v_prediction is checked against
  // diffusers' own trace above (pndm-v-prediction).
  it("PNDM (epsilon) follows the trajectory; SD 1.5's set_alpha_to_one false ends at alphas_cumprod[0]", () => {
    const s = createScheduler(base, 10);
    const alphas = alphasCumprodFromConfig(ddimConfigSchema.parse(base));
    const onTrajectory = (a: number) => x0.map((v, i) => Math.sqrt(a) * v + Math.sqrt(1 - a) * e[i]);
    let x: Float32Array = onTrajectory(alphas[s.timesteps[0]]);
    for (let i = 0; i < s.timesteps.length; i++) x = s.step(e, i, x).prevSample;
    expect(relativeError(x, onTrajectory(alphas[0]))).toBeLessThan(1e-5);
  });

  it('Euler with leading spacing starts from sqrt(sigma_max^2 + 1), as diffusers does', () => {
    const s = createScheduler({ ...base, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'leading' }, 10);
    const max = (s as EulerScheduler).sigmas[0];
    expect(s.initNoiseSigma).toBeCloseTo(Math.sqrt(max * max + 1), 4);
    expect(Array.from(s.timesteps)).toEqual([901, 801, 701, 601, 501, 401, 301, 201, 101, 1]);
  });

  it('Euler with linspace spacing has fractional timesteps', () => {
    const s = createScheduler({ ...base, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'linspace' }, 5);
    expect(Array.from(s.timesteps)).toEqual([999, 749.25, 499.5, 249.75, 0]);
  });
});

describe('what the lab refuses, and how', () => {
  it('names a scheduler class it cannot run and offers the ones it can', () => {
    const ancestral = { ...shippedConfig, _class_name: 'EulerAncestralDiscreteScheduler' };
    expect(() => createScheduler(ancestral, 20)).toThrow(
      /the model's scheduler is EulerAncestralDiscreteScheduler, which the lab cannot run; it runs DDIMScheduler, PNDMScheduler, EulerDiscreteScheduler, DPMSolverMultistepScheduler \(ddim, pndm, euler, dpm\)/,
    );
    // the same config runs with a scheduler the lab has, as diffusers' from_config would build it
    expect(createScheduler(ancestral, 20, { use: 'ddim' }).timesteps.length).toBe(20);
    expect(() => createScheduler(shippedConfig, 20, { use: 'lms' })).toThrow(/asked for lms, which the lab cannot run/);
  });

  it('runs the DPMSolverMultistep config diffusers writes (-Infinity in it), and refuses its stochastic and learned-variance forms', () => {
    const dpm = parseLenientJson(
      readFileSync('src/core/diffusers/__fixtures__/dpm-solver-scheduler_config.json', 'utf8'),
    ) as Record<string, unknown>;
    expect(createScheduler(dpm, 20).timesteps.length).toBe(20);
    expect(() => createScheduler({ ...dpm, algorithm_type: 'sde-dpmsolver++' }, 20)).toThrow(
      /algorithm_type sde-dpmsolver\+\+ \(it adds fresh noise every step\) is not supported/,
    );
    expect(() => createScheduler({ ...dpm, variance_type: 'learned_range' }, 20)).toThrow(
      /variance_type learned_range/,
    );
    expect(() => createScheduler({ ...dpm, algorithm_type: 'dpmsolver' }, 20)).toThrow(
      /needs final_sigmas_type sigma_min/,
    );
  });

  it('refuses settings it does not implement, and bad values, naming them', () => {
    const euler = { ...shippedConfig, _class_name: 'EulerDiscreteScheduler' };
    expect(() => createScheduler({ ...euler, use_beta_sigmas: true }, 10)).toThrow(/use_beta_sigmas/);
    expect(() => createScheduler({ ...shippedConfig, beta_schedule: 'sigmoid' }, 10)).toThrow(SchedulerConfigError);
    expect(() => createScheduler({ ...shippedConfig, beta_schedule: 'sigmoid' }, 10)).toThrow(/beta_schedule/);
    expect(() => createScheduler({ steps_offset: 1 }, 10)).toThrow(/does not say which scheduler/);
    expect(() => createScheduler(shippedConfig, 0)).toThrow(RangeError);
  });

  it("refuses step counts for which diffusers' trailing spacing breaks (numpy arange gives one timestep too many)", () => {
    const trailing = { ...shippedConfig, timestep_spacing: 'trailing' };
    expect(() => createScheduler(trailing, 61, { use: 'ddim' })).toThrow(/gives 62 timesteps for 61 steps/);
    expect(() => createScheduler(trailing, 61, { use: 'euler' })).toThrow(/62 timesteps for 61 steps/);
    expect(createScheduler(trailing, 60, { use: 'ddim' }).timesteps.length).toBe(60);
  });

  it('keeps PNDM steps in order (its history would be wrong otherwise)', () => {
    const s = createScheduler(shippedConfig, 5);
    const x = new Float32Array(4);
    expect(() => s.step(x, 1, x)).toThrow(/in order/);
  });
});
