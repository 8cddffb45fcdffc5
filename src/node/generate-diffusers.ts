/**
 * `npm run generate -- --model <diffusers ONNX folder> ...`: one image from the latent pipeline on
 * onnxruntime-node, written as PNG, through the UNet with the lab's masks (the folder's own
 * instrumented graph, or the plain one instrumented on load) so --prune works as on the organism;
 * with all-ones masks it computes the plain graph's image. --init-latents takes the same standard-normal noise a
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
import { describeUnit, PrunedUnitError, prunedMaskSet } from '../core/diffusers/pruned-units';
import { SchedulerConfigError } from '../core/diffusers/schedulers';
import { chwToRgb, upscaleNearest } from '../core/image';
import { allOnes } from '../core/masks';
import type { LabUNetDescription } from '../core/onnx/description';
import { UnsupportedModelError } from '../core/onnx/errors';
import type { GenerateOptions } from './args';
import { type DiffusersNodeModel, loadDiffusersFolder } from './diffusers-runner';
import { LAB_DESCRIPTION } from './lab-unet';
import { UsageError } from './options';
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

/** The folder's sessions with the UNet's masks; a UNet the instrumenter refuses still generates unless pruning was asked for. */
async function openFolder(dir: string, prune: GenerateOptions['prune']): Promise<DiffusersNodeModel> {
  const check = (d: LabUNetDescription) => {
    try {
      prunedMaskSet(d, prune);
    } catch (e) {
      if (e instanceof PrunedUnitError) throw new UsageError(`--prune: ${e.message}`);
      throw e;
    }
  };
  try {
    // masks only: the CLI reads no attention maps, and onnxruntime computes every output of a graph
    return await loadDiffusersFolder(dir, { instrument: { capture: false, check } });
  } catch (e) {
    if (e instanceof DiffusersFolderError) throw new ModelDirError(`${dir}: ${e.message}`);
    if (!(e instanceof UnsupportedModelError)) throw e;
    if (prune.length) throw new ModelDirError(`${dir}: --prune cannot be used: ${e.message}\ndetails: ${e.detail}`);
    console.warn(`note: the UNet cannot be instrumented (${e.message}); generating with it as it is`);
    try {
      return await loadDiffusersFolder(dir);
    } catch (plain) {
      if (plain instanceof DiffusersFolderError) throw new ModelDirError(`${dir}: ${plain.message}`);
      throw plain;
    }
  }
}

/** Largest and mean difference of two CHW images in [-1, 1], in 8-bit levels. */
function levelDifference(a: Float32Array, b: Float32Array): { max: number; mean: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (Math.abs(a[i] - b[i]) * 255) / 2;
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

/**
 * Generates one PNG. With --prune the baseline (all-ones masks) and the pruned UNet run in one
 * batch from the same latents, as in the lab; the pruned image is written and its difference
 * from the baseline reported.
 */
export async function generateDiffusersPng(dir: string, options: GenerateOptions): Promise<void> {
  const loaded = await openFolder(dir, options.prune);
  try {
    const { model, lab } = loaded;
    const masks = lab?.description.masks;
    const pruned = lab && options.prune.length ? prunedMaskSet(lab.description, options.prune) : undefined;
    const variants = masks ? [allOnes(masks), ...(pruned ? [pruned] : [])] : undefined;
    const request = {
      prompt: options.prompt,
      seed: options.seed ?? DEFAULTS.seed,
      steps: options.steps ?? DEFAULTS.steps,
      guidance: options.guidance ?? DEFAULTS.guidance,
      scheduler: options.scheduler,
      initialLatents: options.initLatents ? await readInitLatents(options.initLatents, model) : undefined,
      variants,
    };
    const gen = generateLatent(loaded.runner, { model, masks }, request);
    let next = await gen.next();
    while (!next.done) next = await gen.next();
    const result = next.value;
    const shown = result.images.length - 1;

    for (const note of model.assumptions) console.warn(`note: ${note}`);
    for (const warning of lab?.description.warnings ?? []) console.warn(`note: ${warning}`);
    if (result.tokens.truncated) {
      console.warn(`warning: prompt cut to ${model.tokenizer.maxLength - 2} of its ${result.tokens.length - 2} tokens`);
    }
    const { width, height } = result.imageSize;
    const rgb = upscaleNearest(chwToRgb(result.images[shown], width, height), width, height, 3, options.scale);
    await writeFile(
      options.out,
      encode({ width: width * options.scale, height: height * options.scale, data: rgb, channels: 3, depth: 8 }),
    );
    const gaps = result.noiseGaps?.map((g) => g[shown]);
    const lines = [
      `model ${dir} (${model.pipelineClass}), ${result.scheduler.className}, ${result.scheduler.timesteps.length} UNet calls`,
      lab
        ? `UNet ${lab.instrumented === 'folder' ? `instrumented by npm run instrument (${LAB_DESCRIPTION})` : 'instrumented on load'}: ` +
          `${lab.description.crossAttention.length} cross-attention and ${lab.description.selfAttention.length} self-attention blocks`
        : 'UNet as exported (no masks)',
      `prompt "${request.prompt}" ${request.initialLatents ? `latents from ${options.initLatents}` : `seed ${request.seed}`}, ` +
        `${request.steps} steps, guidance ${request.guidance}`,
    ];
    if (lab && pruned) {
      const diff = levelDifference(result.images[0], result.images[shown]);
      lines.push(
        `pruned ${options.prune.length} unit(s): ${options.prune.map((u) => describeUnit(lab.description, u)).join(', ')}`,
        `baseline and pruned in one batch; the pruned image differs from the baseline by up to ` +
          `${diff.max.toFixed(1)} levels (mean ${diff.mean.toFixed(2)}) of 255`,
      );
    }
    if (gaps) lines.push(`noise gap: first step ${gaps[0].toFixed(3)}`);
    lines.push(
      `time ${result.timings.totalMs.toFixed(0)} ms (text ${result.timings.textMs.toFixed(1)} ms, decode ${result.timings.decodeMs.toFixed(1)} ms)`,
      `wrote ${options.out}${pruned ? ' (the pruned image)' : ''} (${width * options.scale} x ${height * options.scale})`,
    );
    console.log(lines.join('\n'));
  } catch (e) {
    if (e instanceof SchedulerConfigError || e instanceof TokenizerFilesError) throw new ModelDirError(e.message);
    throw e;
  } finally {
    await loaded.release();
  }
}
