/**
 * Schedulers from a diffusers scheduler_config.json: the file's own class, or another one built
 * from its config the way diffusers' from_config does. Classes the lab cannot run are refused by
 * name, with the ones it can run.
 */
import {
  parseSchedulerConfig,
  SCHEDULER_CLASSES,
  SCHEDULER_SHORT_NAMES,
  type SchedulerClass,
  SchedulerConfigError,
} from './config';
import { DdimScheduler } from './ddim';
import { DpmSolverScheduler } from './dpm-solver';
import { EulerScheduler } from './euler';
import { PndmScheduler } from './pndm';
import type { Scheduler } from './scheduler';

export { SCHEDULER_SHORT_NAMES, type SchedulerClass, SchedulerConfigError } from './config';
export { DdimScheduler } from './ddim';
export { DpmSolverScheduler } from './dpm-solver';
export { EulerScheduler } from './euler';
export { alphasCumprodFromConfig } from './noise-schedule';
export { PndmScheduler } from './pndm';
export type { PredictionType, Scheduler, SchedulerStep } from './scheduler';

export interface SchedulerOptions {
  /** run this class instead of the model's (a diffusers class name or ddim / pndm / euler / dpm) */
  use?: string;
  /** the class the model names (model_index.json); default: the config's _class_name */
  modelClass?: string;
  /** DDIM only: recompute the noise from the clipped x0 (diffusers' use_clipped_model_output) */
  useClippedModelOutput?: boolean;
}

const SUPPORTED = Object.keys(SCHEDULER_CLASSES).join(', ');

/** The class to run: the override, else the model's class, else the config's; or a clear refusal. */
export function schedulerClassOf(config: Record<string, unknown>, use?: string, modelClass?: string): SchedulerClass {
  const name = use ? (SCHEDULER_SHORT_NAMES[use.toLowerCase()] ?? use) : (modelClass ?? config._class_name);
  if (typeof name !== 'string') {
    throw new SchedulerConfigError(
      'the model does not say which scheduler it uses (no _class_name in scheduler_config.json)',
    );
  }
  if (!(name in SCHEDULER_CLASSES)) {
    const from = use ? `asked for ${name}` : `the model's scheduler is ${name}`;
    throw new SchedulerConfigError(
      `${from}, which the lab cannot run; it runs ${SUPPORTED} (${Object.keys(SCHEDULER_SHORT_NAMES).join(', ')}). ` +
        "Choose one of them: it is built from the same config, as diffusers' from_config does.",
    );
  }
  return name as SchedulerClass;
}

/** A fresh scheduler for `steps` inference steps (schedulers keep per-image state: one per image). */
export function createScheduler(
  config: Record<string, unknown>,
  steps: number,
  options: SchedulerOptions = {},
): Scheduler {
  const cls = schedulerClassOf(config, options.use, options.modelClass);
  switch (cls) {
    case 'DDIMScheduler':
      return new DdimScheduler(parseSchedulerConfig(cls, config), steps, {
        useClippedModelOutput: options.useClippedModelOutput,
      });
    case 'PNDMScheduler':
      return new PndmScheduler(parseSchedulerConfig(cls, config), steps);
    case 'EulerDiscreteScheduler':
      return new EulerScheduler(parseSchedulerConfig(cls, config), steps);
    case 'DPMSolverMultistepScheduler':
      return new DpmSolverScheduler(parseSchedulerConfig(cls, config), steps);
  }
}
