/**
 * The training noise schedule of diffusers' schedulers (betas -> alphas_cumprod) and the numpy
 * idioms their set_timesteps use, reproduced with the same float32 roundings: torch keeps betas
 * and alphas_cumprod in float32 (its CPU cumprod accumulates in double), numpy's arange, linspace,
 * round and interp have exact definitions that change results at the edges (see trailingSpacing).
 */
export const f32 = Math.fround;

export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

export interface BetaConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: BetaSchedule;
  trained_betas: number[] | null;
  rescale_betas_zero_snr?: boolean;
}

/** numpy's round(): halves go to the even neighbour. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** np.arange(start, stop, step): length ceil((stop - start) / step), values start + i * step. */
export function numpyArange(start: number, stop: number, step: number): number[] {
  const n = Math.max(0, Math.ceil((stop - start) / step));
  return Array.from({ length: n }, (_, i) => start + i * step);
}

/** np.linspace(start, stop, n) (endpoint included): i * step + start, the last value exactly stop. */
export function numpyLinspace(start: number, stop: number, n: number): number[] {
  if (n === 1) return [start];
  const step = (stop - start) / (n - 1);
  const out = Array.from({ length: n }, (_, i) => i * step + start);
  out[n - 1] = stop;
  return out;
}

/** np.interp(x, arange(len(fp)), fp) for x inside [0, len(fp) - 1]. */
export function interpOnIndex(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (x <= 0) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  const slope = fp[j + 1] - fp[j];
  return slope * (x - j) + fp[j];
}

/**
 * torch.linspace(start, end, n, dtype=float32) on the CPU: the first half counts up from start,
 * the second down from end, each value start + step * i rounded once to float32 (torch's kernels
 * compute it with a fused multiply-add), with step = (end - start) / (n - 1) in float32. This
 * reproduces torch 2.x's betas bit for bit; the products are exact in double, so one rounding
 * to float32 is what a fused multiply-add gives (up to rare double-rounding ties).
 */
export function torchLinspaceFloat32(start: number, end: number, n: number): Float32Array {
  const a = f32(start);
  const b = f32(end);
  if (n === 1) return Float32Array.of(a);
  const step = f32(f32(b - a) / (n - 1));
  const half = Math.floor(n / 2);
  return Float32Array.from({ length: n }, (_, i) => (i < half ? a + step * i : b - step * (n - 1 - i)));
}

/** diffusers' betas_for_alpha_bar with the cosine transform (squaredcos_cap_v2), max_beta 0.999. */
function cosineBetas(n: number): Float32Array {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  return Float32Array.from({ length: n }, (_, i) => Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999));
}

/** Rescales betas to zero terminal SNR (Lin et al. 2023, algorithm 1) with diffusers' float32 steps. */
function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const sqrtBar = new Float32Array(n);
  let product = 1;
  for (let i = 0; i < n; i++) {
    product *= f32(1 - betas[i]);
    sqrtBar[i] = Math.sqrt(f32(product));
  }
  const first = sqrtBar[0];
  const last = sqrtBar[n - 1];
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((s) => {
    const shifted = f32(f32(s - last) * scale);
    return shifted * shifted;
  });
  return Float32Array.from({ length: n }, (_, i) => 1 - (i === 0 ? bar[0] : f32(bar[i] / bar[i - 1])));
}

/** float32 betas as diffusers builds them in its scheduler constructors. */
export function betasFromConfig(config: BetaConfig): Float32Array {
  const n = config.num_train_timesteps;
  let betas: Float32Array;
  if (config.trained_betas) {
    if (config.trained_betas.length !== n) {
      throw new RangeError(`trained_betas has ${config.trained_betas.length} values, num_train_timesteps is ${n}`);
    }
    betas = Float32Array.from(config.trained_betas);
  } else if (config.beta_schedule === 'linear') {
    betas = torchLinspaceFloat32(config.beta_start, config.beta_end, n);
  } else if (config.beta_schedule === 'scaled_linear') {
    const roots = torchLinspaceFloat32(config.beta_start ** 0.5, config.beta_end ** 0.5, n);
    betas = roots.map((r) => r * r);
  } else {
    betas = cosineBetas(n);
  }
  return config.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(betas) : betas;
}

/** alphas_cumprod = cumprod(1 - betas): float32 factors, double accumulation, float32 results. */
export function alphasCumprodFromConfig(config: BetaConfig): Float32Array {
  const betas = betasFromConfig(config);
  const out = new Float32Array(betas.length);
  let product = 1;
  for (let i = 0; i < betas.length; i++) {
    product *= f32(1 - betas[i]);
    out[i] = product;
  }
  return out;
}

export type TimestepSpacing = 'leading' | 'trailing' | 'linspace';

/**
 * Integer timesteps in descending order for `steps` inference steps, as DDIM's set_timesteps
 * computes them (PNDM and Euler use the same three rules with small twists).
 */
export function spacedTimesteps(spacing: TimestepSpacing, steps: number, trainSteps: number, offset: number): number[] {
  if (spacing === 'linspace')
    return numpyLinspace(0, trainSteps - 1, steps)
      .map(roundHalfEven)
      .reverse();
  if (spacing === 'leading') {
    const ratio = Math.floor(trainSteps / steps);
    return Array.from({ length: steps }, (_, i) => (steps - 1 - i) * ratio + offset);
  }
  return trailingSpacing(steps, trainSteps);
}

/**
 * round(np.arange(T, 0, -T / steps)) - 1. numpy's arange rounds its length up, so for some step
 * counts (61 of 1000, for example) it yields one extra value whose timestep is -1; diffusers then
 * indexes alphas_cumprod[-1] (the noisiest entry). That is a bug, not a schedule: refuse it.
 */
export function trailingSpacing(steps: number, trainSteps: number): number[] {
  const ts = numpyArange(trainSteps, 0, -trainSteps / steps).map((t) => roundHalfEven(t) - 1);
  if (ts.length !== steps) {
    throw new RangeError(
      `"trailing" timestep spacing gives ${ts.length} timesteps for ${steps} steps in diffusers (numpy's arange ` +
        `rounding), the last one ${ts[ts.length - 1]}; choose ${steps - 1} or ${steps + 1} steps`,
    );
  }
  return ts;
}

export function checkSteps(steps: number, trainSteps: number): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > trainSteps) {
    throw new RangeError(`steps must be an integer in 1..${trainSteps}, got ${steps}`);
  }
}
