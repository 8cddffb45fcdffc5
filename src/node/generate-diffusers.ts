/**
 * `npm run generate -- --model <diffusers ONNX folder> ...`: one image from the latent pipeline on
 * onnxruntime-node, written as PNG. --init-latents takes the same standard-normal noise a
 * diffusers run was given (raw little-endian float32, latent shape), so the two can be compared
 * image for image. Problems with the folder end as ModelDirError (a message, exit status 1).
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { TokenizerFilesError } from '../core/diffusers/clip-tokenizer';
import { DiffusersFolderError, type LatentModel } from '../core/diffusers/folder';
import { generateLatent, latentShapeFor } from '../core/diffusers/latent-pipeline';
import { SchedulerConfigError } from '../core/diffusers/schedulers';
import { chwToRgb, upscaleNearest } from '../core/image';
import { type GenerateOptions, UsageError } from './args';
import { loadDiffusersFolder } from './diffusers-runner';
import { ModelDirError } from './runner';

/** diffusers' own defaults for the text-to-image pipelines */
const DEFAULTS = { seed: 0, steps: 50, guidance: 7.5 };

/** Whether `dir` is a diffusers folder (it has model_index.json) rather than a lab model directory. */
export function isDiffusersFolder(dir: string): boolean {
  return existsSync(join(dir, 'model_index.json'));
}

/** Raw little-endian float32 noise of the model's latent shape. */
async function readInitLatents(path: string, model: LatentModel): Promise<Float32Array> {
  const shape = latentShapeFor(model, {});
  const count = shape.channels * shape.height * shape.width;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new UsageError(`--init-latents: cannot read ${path}`);
  }
  if (bytes.length !== count * 4) {
    throw new UsageError(
      `--init-latents: ${path} has ${bytes.length} bytes; the latents of this model are ${shape.channels} x ` +
        `${shape.height} x ${shape.width} float32 values, ${count * 4} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Float32Array.from({ length: count }, (_, i) => view.getFloat32(4 * i, true));
}

export async function generateDiffusersPng(dir: string, options: GenerateOptions): Promise<void> {
  if (options.prune.length) {
    throw new UsageError('--prune needs a UNet with mask inputs; this diffusers folder has a plain export');
  }
  let loaded: Awaited<ReturnType<typeof loadDiffusersFolder>>;
  try {
    loaded = await loadDiffusersFolder(dir);
  } catch (e) {
    if (e instanceof DiffusersFolderError) throw new ModelDirError(`${dir}: ${e.message}`);
    throw e;
  }
  try {
    const { model } = loaded;
    const request = {
      prompt: options.prompt,
      seed: options.seed ?? DEFAULTS.seed,
      steps: options.steps ?? DEFAULTS.steps,
      guidance: options.guidance ?? DEFAULTS.guidance,
      scheduler: options.scheduler,
      initialLatents: options.initLatents ? await readInitLatents(options.initLatents, model) : undefined,
    };
    const gen = generateLatent(loaded.runner, { model }, request);
    let next = await gen.next();
    while (!next.done) next = await gen.next();
    const result = next.value;

    for (const note of model.assumptions) console.warn(`note: ${note}`);
    if (result.tokens.truncated) {
      console.warn(`warning: prompt cut to ${model.tokenizer.maxLength - 2} of its ${result.tokens.length - 2} tokens`);
    }
    const { width, height } = result.imageSize;
    const rgb = upscaleNearest(chwToRgb(result.images[0], width, height), width, height, 3, options.scale);
    await writeFile(
      options.out,
      encode({ width: width * options.scale, height: height * options.scale, data: rgb, channels: 3, depth: 8 }),
    );
    const gaps = result.noiseGaps?.map((g) => g[0]);
    console.log(
      [
        `model ${dir} (${model.pipelineClass}), ${result.scheduler.className}, ${result.scheduler.timesteps.length} UNet calls`,
        `prompt "${request.prompt}" ${request.initialLatents ? `latents from ${options.initLatents}` : `seed ${request.seed}`}, ` +
          `${request.steps} steps, guidance ${request.guidance}`,
        ...(gaps ? [`noise gap: first step ${gaps[0].toFixed(3)}`] : []),
        `time ${result.timings.totalMs.toFixed(0)} ms (text ${result.timings.textMs.toFixed(1)} ms, decode ${result.timings.decodeMs.toFixed(1)} ms)`,
        `wrote ${options.out} (${width * options.scale} x ${height * options.scale})`,
      ].join('\n'),
    );
  } catch (e) {
    if (e instanceof SchedulerConfigError || e instanceof TokenizerFilesError) throw new ModelDirError(e.message);
    throw e;
  } finally {
    await loaded.release();
  }
}
