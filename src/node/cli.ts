/**
 * `npm run generate -- --prompt "..." --out image.png [...]`: one image from the core pipeline on
 * onnxruntime-node, written as PNG. Unknown words are a warning, not an error; a missing or corrupt
 * model directory is an error that names the problem.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encode } from 'fast-png';
import { chwToRgb, upscaleNearest } from '../core/image';
import type { Manifest } from '../core/manifest';
import { type MaskSet, type PrunedUnit, countPruned, maskSetFromPruned } from '../core/masks';
import { generate } from '../core/pipeline';
import { type GenerateOptions, USAGE, parseGenerateArgs } from './args';
import { generateDiffusersPng, isDiffusersFolder } from './generate-diffusers';
import { type Command, runIfMain } from './command';
import { HelpRequested, UsageError } from './options';
import { ModelDirError, loadNodeModel } from './runner';

const MODELS = resolve(dirname(fileURLToPath(import.meta.url)), '../../public/models');

/** The default model directory named by public/models/index.json. */
async function defaultModelDir(): Promise<string> {
  const index = JSON.parse(await readFile(join(MODELS, 'index.json'), 'utf8')) as {
    default: string;
    models: { id: string; path: string }[];
  };
  const entry = index.models.find((m) => m.id === index.default);
  if (!entry) throw new ModelDirError(`public/models/index.json: default "${index.default}" is not in its model list`);
  return join(MODELS, entry.path);
}

/** --prune units checked against this model; a unit it does not have is a usage error. */
function prunedMasks(manifest: Manifest, prune: PrunedUnit[]): MaskSet {
  try {
    return maskSetFromPruned(manifest, prune);
  } catch (e) {
    throw new UsageError(`--prune: ${(e as Error).message}`);
  }
}

async function generateToPng(options: GenerateOptions): Promise<void> {
  const dir = options.model ?? (await defaultModelDir());
  if (isDiffusersFolder(dir)) return generateDiffusersPng(dir, options);
  const model = await loadNodeModel(dir, { precision: options.precision });
  try {
    const { manifest } = model;
    const masks = prunedMasks(manifest, options.prune);
    const request = {
      prompt: options.prompt,
      seed: options.seed ?? manifest.defaults.seed,
      steps: options.steps ?? manifest.defaults.steps,
      guidance: options.guidance ?? manifest.defaults.guidance,
      variants: [masks],
      captureAttention: false,
    };
    const gen = generate(model.runner, manifest, request);
    let next = await gen.next();
    while (!next.done) next = await gen.next();
    const result = next.value;

    if (result.tokens.unknownWords.length) {
      console.warn(`warning: not in the vocabulary, generated as <unk>: ${result.tokens.unknownWords.join(', ')}`);
    }
    if (result.tokens.truncated) {
      console.warn(`warning: prompt cut to ${manifest.text.maxTokens - 2} of its ${result.tokens.words.length} words`);
    }
    const { width, height } = manifest.image;
    const rgb = upscaleNearest(chwToRgb(result.images[0], width, height), width, height, 3, options.scale);
    const png = encode({
      width: width * options.scale,
      height: height * options.scale,
      data: rgb,
      channels: 3,
      depth: 8,
    });
    await writeFile(options.out, png);
    const gaps = result.noiseGaps.map((g) => g[0]);
    console.log(
      [
        `model ${manifest.id} ${manifest.version} (${model.precision}), ${countPruned(masks)} unit(s) pruned`,
        `prompt "${request.prompt}" seed ${request.seed}, ${request.steps} steps, guidance ${request.guidance}`,
        `noise gap: first step ${gaps[0].toFixed(3)}, mean ${(gaps.reduce((a, b) => a + b, 0) / gaps.length).toFixed(3)}`,
        `time ${result.timings.totalMs.toFixed(0)} ms (text ${result.timings.textMs.toFixed(1)} ms)`,
        `wrote ${options.out}`,
      ].join('\n'),
    );
  } finally {
    await model.release();
  }
}

/** `generate` is the one command; `--help` before it prints the usage too. */
export const generateCommand: Command = {
  usage: USAGE,
  async run([command, ...rest]) {
    if (command === '--help' || command === '-h') throw new HelpRequested();
    if (command !== 'generate') throw new UsageError(`unknown command "${command ?? ''}"`);
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(USAGE);
      return 0;
    }
    await generateToPng(parseGenerateArgs(rest));
  },
  // RangeError: a setting the model cannot take (e.g. more steps than its noise schedule has).
  inputErrors: [RangeError],
};

await runIfMain(import.meta.url, generateCommand);
