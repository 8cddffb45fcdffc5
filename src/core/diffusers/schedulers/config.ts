/**
 * scheduler_config.json read with diffusers' from_config semantics: the keys a scheduler class
 * knows are taken from the file, the others get that class's defaults (so DDIM built from SD 1.5's
 * PNDM config clips x0 and does not set the last alpha to one). Unknown keys are ignored, as
 * diffusers does. Defaults are those of the scheduler classes' constructors.
 */
import { z } from 'zod';

const betaSchedule = z.enum(['linear', 'scaled_linear', 'squaredcos_cap_v2']);
const spacing = z.enum(['leading', 'trailing', 'linspace']);
const trainedBetas = z.array(z.number()).nullable().default(null);

const common = {
  num_train_timesteps: z.number().int().positive().default(1000),
  beta_start: z.number().default(0.0001),
  beta_end: z.number().default(0.02),
  beta_schedule: betaSchedule.default('linear'),
  trained_betas: trainedBetas,
};

export const ddimConfigSchema = z.object({
  ...common,
  clip_sample: z.boolean().default(true),
  set_alpha_to_one: z.boolean().default(true),
  steps_offset: z.number().int().default(0),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample']).default('epsilon'),
  thresholding: z.boolean().default(false),
  dynamic_thresholding_ratio: z.number().default(0.995),
  clip_sample_range: z.number().default(1),
  sample_max_value: z.number().default(1),
  timestep_spacing: spacing.default('leading'),
  rescale_betas_zero_snr: z.boolean().default(false),
});

export const pndmConfigSchema = z.object({
  ...common,
  skip_prk_steps: z.boolean().default(false),
  set_alpha_to_one: z.boolean().default(false),
  prediction_type: z.enum(['epsilon', 'v_prediction']).default('epsilon'),
  timestep_spacing: spacing.default('leading'),
  steps_offset: z.number().int().default(0),
});

export const eulerConfigSchema = z.object({
  ...common,
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample', 'original_sample']).default('epsilon'),
  interpolation_type: z.enum(['linear', 'log_linear']).default('linear'),
  use_karras_sigmas: z.boolean().nullable().default(false),
  use_exponential_sigmas: z.boolean().nullable().default(false),
  use_beta_sigmas: z.boolean().nullable().default(false),
  sigma_min: z.number().nullable().default(null),
  sigma_max: z.number().nullable().default(null),
  timestep_spacing: spacing.default('linspace'),
  timestep_type: z.enum(['discrete', 'continuous']).default('discrete'),
  steps_offset: z.number().int().default(0),
  rescale_betas_zero_snr: z.boolean().default(false),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
});

export const dpmSolverConfigSchema = z.object({
  ...common,
  solver_order: z.number().int().min(1).max(3).default(2),
  prediction_type: z.enum(['epsilon', 'v_prediction', 'sample', 'flow_prediction']).default('epsilon'),
  thresholding: z.boolean().default(false),
  dynamic_thresholding_ratio: z.number().default(0.995),
  sample_max_value: z.number().default(1),
  algorithm_type: z
    .enum(['dpmsolver', 'dpmsolver++', 'sde-dpmsolver', 'sde-dpmsolver++', 'deis'])
    .default('dpmsolver++'),
  solver_type: z.enum(['midpoint', 'heun', 'logrho', 'bh1', 'bh2']).default('midpoint'),
  lower_order_final: z.boolean().default(true),
  euler_at_final: z.boolean().default(false),
  use_karras_sigmas: z.boolean().nullable().default(false),
  use_exponential_sigmas: z.boolean().nullable().default(false),
  use_beta_sigmas: z.boolean().nullable().default(false),
  use_lu_lambdas: z.boolean().nullable().default(false),
  use_flow_sigmas: z.boolean().nullable().default(false),
  flow_shift: z.number().nullable().default(1),
  final_sigmas_type: z.enum(['zero', 'sigma_min']).default('zero'),
  // diffusers writes -Infinity here (non-strict JSON, read by lenient-json.ts)
  lambda_min_clipped: z
    .custom<number>((v) => typeof v === 'number' && !Number.isNaN(v), 'expected a number or -Infinity')
    .default(Number.NEGATIVE_INFINITY),
  variance_type: z.enum(['learned', 'learned_range']).nullable().default(null),
  timestep_spacing: spacing.default('linspace'),
  steps_offset: z.number().int().default(0),
  rescale_betas_zero_snr: z.boolean().default(false),
  use_dynamic_shifting: z.boolean().default(false),
});

export type DdimConfig = z.infer<typeof ddimConfigSchema>;
export type PndmConfig = z.infer<typeof pndmConfigSchema>;
export type EulerConfig = z.infer<typeof eulerConfigSchema>;
export type DpmSolverConfig = z.infer<typeof dpmSolverConfigSchema>;

/** The scheduler classes the lab runs, by diffusers class name. */
export const SCHEDULER_CLASSES = {
  DDIMScheduler: ddimConfigSchema,
  PNDMScheduler: pndmConfigSchema,
  EulerDiscreteScheduler: eulerConfigSchema,
  DPMSolverMultistepScheduler: dpmSolverConfigSchema,
} as const;

export type SchedulerClass = keyof typeof SCHEDULER_CLASSES;

/** Short names for the command line and the UI. */
export const SCHEDULER_SHORT_NAMES: Record<string, SchedulerClass> = {
  ddim: 'DDIMScheduler',
  pndm: 'PNDMScheduler',
  euler: 'EulerDiscreteScheduler',
  dpm: 'DPMSolverMultistepScheduler',
};

export class SchedulerConfigError extends Error {
  override name = 'SchedulerConfigError';
}

/** Reads a config for `cls`, naming every bad key. */
export function parseSchedulerConfig<C extends SchedulerClass>(
  cls: C,
  json: Record<string, unknown>,
): z.infer<(typeof SCHEDULER_CLASSES)[C]> {
  const parsed = SCHEDULER_CLASSES[cls].safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new SchedulerConfigError(`scheduler_config.json cannot configure ${cls}: ${problems.join('; ')}`);
  }
  return parsed.data as z.infer<(typeof SCHEDULER_CLASSES)[C]>;
}
