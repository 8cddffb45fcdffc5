/** Command-line options of `npm run generate`, parsed and checked without touching the model. */
import { type PrunedUnit, parsePrunedUnits } from '../core/masks';
import { UsageError, choiceOption, integerOption, parseOptions } from './options';
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

/** Parses the arguments after the `generate` command. */
export function parseGenerateArgs(argv: string[]): GenerateOptions {
  const values = parseOptions(argv, {
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
  });
  if (values.prompt === undefined) throw new UsageError('--prompt is required');
  if (values.out === undefined) throw new UsageError('--out is required');
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
    seed: integerOption('seed', values.seed),
    steps: integerOption('steps', values.steps, 1),
    guidance,
    precision: choiceOption('precision', values.precision, ['int8', 'fp32']),
    prune,
    scale: integerOption('scale', values.scale, 1) ?? 1,
    scheduler: values.scheduler,
    initLatents: values['init-latents'],
  };
}
