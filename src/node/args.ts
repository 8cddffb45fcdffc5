/** Command-line options of `npm run generate`, parsed and checked without touching the model. */
import { parseArgs } from 'node:util';
import { type PrunedUnit, parsePrunedUnits } from '../core/masks';
import type { Precision } from './runner';

export const USAGE = `usage: npm run generate -- --prompt "a painting of zephyr" --out image.png
  [--seed 7] [--steps 25] [--guidance 4]       (defaults: the model's manifest)
  [--model public/models/<id>]                 (default: public/models/index.json's default)
  [--precision int8|fp32]                      (default int8)
  [--prune cross_attn_head_mask:0.1,3.2 ...]   (mask:layer.unit list; repeatable)
  [--scale 8]                                  (nearest-neighbour upscale of the PNG; default 1)
  [--help]
--model also takes a diffusers ONNX folder (Stable Diffusion 1.x/2.x and kin; seed 0, 50 steps and
guidance 7.5 by default). Its UNet is instrumented on load, or read as npm run instrument wrote it,
so --prune takes its blocks: cross_attn_head_mask:<block>.<head>, self_attn_head_mask:<block>.<head>,
cross_attn_value_mask:<block>.<neuron> (blocks as npm run instrument lists them, from 0); the
baseline and the pruned UNet run in one batch and the pruned image is written. It also takes
  [--scheduler ddim|pndm|euler|dpm]            (default: the folder's own scheduler)
  [--init-latents noise.bin]                   (raw little-endian float32 standard-normal latents,
                                                scaled by the scheduler's initial sigma, like diffusers' latents=)`;

export interface GenerateOptions {
  prompt: string;
  out: string;
  model?: string;
  seed?: number;
  steps?: number;
  guidance?: number;
  precision: Precision;
  prune: PrunedUnit[];
  scale: number;
  scheduler?: string;
  initLatents?: string;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

/** An integer option of any of the CLIs; `fail` makes the command's own usage error. */
export function integerOption(
  name: string,
  text: string | undefined,
  min = Number.MIN_SAFE_INTEGER,
  fail: (message: string) => Error = (message) => new UsageError(message),
): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < min) {
    const bound = min === Number.MIN_SAFE_INTEGER ? '' : ` >= ${min}`;
    throw fail(`--${name} must be an integer${bound}, got "${text}"`);
  }
  return value;
}

const integer = (name: string, text: string | undefined, min?: number) => integerOption(name, text, min);

/** Parses the arguments after the `generate` command. */
export function parseGenerateArgs(argv: string[]): GenerateOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        prompt: { type: 'string' },
        out: { type: 'string' },
        model: { type: 'string' },
        seed: { type: 'string' },
        steps: { type: 'string' },
        guidance: { type: 'string' },
        precision: { type: 'string', default: 'int8' },
        prune: { type: 'string', multiple: true, default: [] },
        scale: { type: 'string', default: '1' },
        scheduler: { type: 'string' },
        'init-latents': { type: 'string' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.prompt === undefined) throw new UsageError('--prompt is required');
  if (values.out === undefined) throw new UsageError('--out is required');
  if (values.precision !== 'int8' && values.precision !== 'fp32') {
    throw new UsageError(`--precision must be int8 or fp32, got "${values.precision}"`);
  }
  const guidance = values.guidance === undefined ? undefined : Number(values.guidance);
  if (guidance !== undefined && !Number.isFinite(guidance))
    throw new UsageError(`--guidance must be a number, got "${values.guidance}"`);
  let prune: PrunedUnit[];
  try {
    prune = values.prune.flatMap(parsePrunedUnits);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return {
    prompt: values.prompt,
    out: values.out,
    model: values.model,
    seed: integer('seed', values.seed),
    steps: integer('steps', values.steps, 1),
    guidance,
    precision: values.precision,
    prune,
    scale: integer('scale', values.scale, 1) ?? 1,
    scheduler: values.scheduler,
    initLatents: values['init-latents'],
  };
}
