/**
 * An experiment: everything that determines a generation, and nothing else. The URL is a
 * projection of exactly this (see url-codec.ts), so a link reproduces the run.
 *
 * Every scalar property is declared once in EXPERIMENT_FIELDS (name, URL key, type, default,
 * bounds), in the spirit of TF Playground's state.ts; validation and the URL codec walk the table.
 */
import type { Manifest } from '../manifest';

export type Scheduler = 'ddim';
export const SCHEDULERS: readonly Scheduler[] = ['ddim'];

export interface ModelRef {
  id: string;
  version: string;
}

/**
 * Pruning masks: for each mask input named in manifest.unet.masks, the pruned units as flat
 * indices (layer * units + unit), strictly increasing. Every manifest mask has a key, even when
 * nothing is pruned, so two equal experiments are deep-equal.
 */
export type PrunedUnits = Record<string, number[]>;

export interface Experiment {
  model: ModelRef;
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  scheduler: Scheduler;
  masks: PrunedUnits;
}

export type ScalarName = 'prompt' | 'seed' | 'steps' | 'guidance' | 'scheduler';

interface FieldCommon {
  /** Query-string key; short because links get pasted into chats and papers. */
  key: string;
  label: string;
}
export interface IntField extends FieldCommon {
  type: 'int';
  min: number;
  max: number;
  default: (m: Manifest) => number;
}
export interface FloatField extends FieldCommon {
  type: 'float';
  min: number;
  max: number;
  default: (m: Manifest) => number;
}
export interface TextField extends FieldCommon {
  type: 'text';
  maxLength: number;
  default: (m: Manifest) => string;
}
export interface EnumField extends FieldCommon {
  type: 'enum';
  values: readonly string[];
  default: (m: Manifest) => string;
}
export type Field = IntField | FloatField | TextField | EnumField;

/** Prompts longer than this cannot matter: the tokenizer keeps 22 words. It also bounds URLs. */
export const MAX_PROMPT_LENGTH = 200;
export const MAX_STEPS = 1000;
export const MAX_GUIDANCE = 30;
/** Seeds are 32-bit: the Gaussian RNG is seeded from a uint32. */
export const MAX_SEED = 0xffffffff;

export const EXPERIMENT_FIELDS = {
  prompt: {
    key: 'p',
    label: 'prompt',
    type: 'text',
    maxLength: MAX_PROMPT_LENGTH,
    // A memorized caption shows the lab's point on first load; fall back to a neutral one.
    default: (m) => m.memorized[0]?.caption ?? m.neutralPrompts[0] ?? '',
  },
  seed: {
    key: 's',
    label: 'seed',
    type: 'int',
    min: 0,
    max: MAX_SEED,
    default: (m) => m.defaults.seed,
  },
  steps: {
    key: 'n',
    label: 'steps',
    type: 'int',
    min: 1,
    max: MAX_STEPS,
    default: (m) => m.defaults.steps,
  },
  guidance: {
    key: 'g',
    label: 'guidance',
    type: 'float',
    min: 0,
    max: MAX_GUIDANCE,
    default: (m) => m.defaults.guidance,
  },
  scheduler: {
    key: 'sch',
    label: 'scheduler',
    type: 'enum',
    values: SCHEDULERS,
    default: () => 'ddim',
  },
} as const satisfies Record<ScalarName, Field>;

/** The organism's schedule bounds its steps; a latent model's scheduler checks its own. */
const trainStepsOf = (m: Manifest): number => m.schedule?.trainSteps ?? MAX_STEPS;

export const SCALAR_NAMES = Object.keys(EXPERIMENT_FIELDS) as ScalarName[];

/**
 * Characters a prompt may not contain: control characters (invisible, and they split words
 * unpredictably), angle brackets (the tokenizer would read "<pad>" or "<eos>" as special tokens)
 * and bidi overrides (they make the displayed prompt differ from the one that runs).
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_PROMPT_CHARS = /[\u0000-\u001f\u007f-\u009f<>\u202a-\u202e\u2066-\u2069]/;
/** A lone UTF-16 surrogate cannot survive percent-encoding, so it would break reproduction. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a prompt is not allowed, or null when it is fine. */
export function promptProblem(prompt: string): string | null {
  if (prompt.length > MAX_PROMPT_LENGTH) return `the prompt is longer than ${MAX_PROMPT_LENGTH} characters`;
  if (FORBIDDEN_PROMPT_CHARS.test(prompt)) return 'the prompt contains control characters or angle brackets';
  if (LONE_SURROGATE.test(prompt)) return 'the prompt contains a broken character';
  return null;
}

/** Why a scalar value is out of its declared bounds, or null when it is fine. */
export function fieldProblem(name: ScalarName, value: unknown): string | null {
  const f: Field = EXPERIMENT_FIELDS[name];
  switch (f.type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `${f.label} must be a whole number`;
      if (value < f.min || value > f.max) return `${f.label} must be between ${f.min} and ${f.max}`;
      return null;
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `${f.label} must be a number`;
      if (value < f.min || value > f.max) return `${f.label} must be between ${f.min} and ${f.max}`;
      return null;
    case 'text':
      if (typeof value !== 'string') return `${f.label} must be text`;
      return name === 'prompt' ? promptProblem(value) : value.length > f.maxLength ? `${f.label} is too long` : null;
    case 'enum':
      if (typeof value !== 'string' || !f.values.includes(value))
        return `${f.label} must be one of ${f.values.join(', ')}`;
      return null;
  }
}

/** Total units of a mask input: the exclusive upper bound of its flat indices. */
export function maskSize(spec: { layers: number; units: number }): number {
  return spec.layers * spec.units;
}

/** Nothing pruned, with a key per manifest mask. Object.fromEntries defines own keys, so even a
 * mask named "__proto__" could not reach the prototype. */
export function emptyMasks(manifest: Manifest): PrunedUnits {
  return Object.fromEntries(manifest.unet.masks.map((m) => [m.name, [] as number[]]));
}

function clampInt(v: number, lo: number, hi: number): number {
  return Number.isInteger(v) ? Math.min(hi, Math.max(lo, v)) : lo;
}

/** The experiment a fresh lab shows for this model: the manifest's defaults, nothing pruned.
 * Defaults outside the table's bounds are clamped so the default is always valid. */
export function defaultExperiment(manifest: Manifest): Experiment {
  const F = EXPERIMENT_FIELDS;
  const prompt = F.prompt.default(manifest);
  const guidance = F.guidance.default(manifest);
  return {
    model: { id: manifest.id, version: manifest.version },
    prompt: promptProblem(prompt) === null ? prompt : '',
    seed: clampInt(F.seed.default(manifest), F.seed.min, F.seed.max),
    steps: clampInt(F.steps.default(manifest), F.steps.min, Math.min(F.steps.max, trainStepsOf(manifest))),
    guidance: Number.isFinite(guidance) ? Math.min(F.guidance.max, Math.max(F.guidance.min, guidance)) : 0,
    scheduler: 'ddim',
    masks: emptyMasks(manifest),
  };
}

/**
 * Every reason `e` is not a valid experiment for this manifest (empty when valid). Checks the
 * table's bounds, steps within the training schedule, the model identity, and that masks name
 * exactly the manifest's mask inputs with strictly increasing in-range indices.
 */
export function experimentProblems(e: Experiment, manifest: Manifest): string[] {
  const problems: string[] = [];
  if (e.model.id !== manifest.id || e.model.version !== manifest.version) {
    problems.push('the experiment is for a different model than the one loaded');
  }
  for (const name of SCALAR_NAMES) {
    const p = fieldProblem(name, e[name]);
    if (p) problems.push(p);
  }
  if (Number.isInteger(e.steps) && e.steps > trainStepsOf(manifest)) {
    problems.push(`steps must be at most the model's ${trainStepsOf(manifest)} training steps`);
  }
  const known = new Set(manifest.unet.masks.map((m) => m.name));
  for (const name of Object.keys(e.masks)) {
    if (!known.has(name)) problems.push('a mask is not an input of this model');
  }
  for (const spec of manifest.unet.masks) {
    const units = Object.hasOwn(e.masks, spec.name) ? e.masks[spec.name] : undefined;
    if (!Array.isArray(units)) {
      problems.push(`mask ${spec.name} is missing`);
      continue;
    }
    const size = maskSize(spec);
    let prev = -1;
    for (const u of units) {
      if (!Number.isInteger(u) || u <= prev || u >= size) {
        problems.push(`mask ${spec.name} must list increasing unit indices below ${size}`);
        break;
      }
      prev = u;
    }
  }
  return problems;
}

/** Sorted, de-duplicated copy of a unit set, for building masks from UI toggles. */
export function normalizeUnits(units: Iterable<number>): number[] {
  return [...new Set(units)].sort((a, b) => a - b);
}

/** Count of pruned units over all masks. */
export function prunedCount(masks: PrunedUnits): number {
  let n = 0;
  for (const units of Object.values(masks)) n += units.length;
  return n;
}
