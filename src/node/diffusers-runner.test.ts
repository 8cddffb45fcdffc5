/**
 * The latent pipeline on real ONNX graphs in onnxruntime-node, against diffusers:
 * - the shared fixture's reference runs (StableDiffusionPipeline in torch; PNDM and DDIM, guided
 *   and unguided): every step's latents within 1e-4 relative, the image within 1/255;
 * - an SD 2.x-style configuration of the same graphs (Euler, v-prediction, padding with "!"),
 *   against diffusers' Euler scheduler and transformers' tokenizer driving the same graphs
 *   (src/node/__fixtures__/sd2-style, written by src/core/diffusers/__fixtures__/make_fixtures.py);
 * - folders that cannot work, each with its message.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ReferenceRun,
  readFloats,
  referenceRuns,
  referenceTensor,
  relativeError,
  TINY_SD1,
} from '../core/diffusers/__fixtures__/reference';
import { DiffusersFolderError } from '../core/diffusers/folder';
import {
  generateLatent,
  type LatentGenerateRequest,
  type LatentGenerateResult,
  type LatentStepEvent,
} from '../core/diffusers/latent-pipeline';
import * as ort from 'onnxruntime-node';
import { timestepTensor as timestepTensorOf } from '../core/diffusers/sessions-runner';
import { type DiffusersNodeModel, loadDiffusersFolder } from './diffusers-runner';

const timestepTensor = (m: Parameters<typeof timestepTensorOf>[1], v: Float32Array) =>
  timestepTensorOf(ort.Tensor, m, v);

const scratch = mkdtempSync(join(tmpdir(), 'memlab-diffusers-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A copy of the fixture's model files (no reference traces) that a test may change. */
function copyOfFixture(name: string): string {
  const dir = join(scratch, name);
  cpSync(TINY_SD1, dir, {
    recursive: true,
    filter: (src) => !/[/\\](reference|unet-fused|README\.md)$/.test(src),
  });
  return dir;
}

async function drain(gen: AsyncGenerator<LatentStepEvent, LatentGenerateResult, void>) {
  const events: LatentStepEvent[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) return { events, result: next.value };
    events.push(next.value);
  }
}

/** max |ours - theirs| over the image, ours CHW in [-1, 1], theirs NHWC in [0, 1] (diffusers' output_type np). */
function imageError(ours: Float32Array, theirsNhwc: Float32Array, pixels: number): number {
  let worst = 0;
  for (let c = 0; c < 3; c++)
    for (let p = 0; p < pixels; p++)
      worst = Math.max(worst, Math.abs((ours[c * pixels + p] + 1) / 2 - theirsNhwc[p * 3 + c]));
  return worst;
}

describe('tiny-sd1 on onnxruntime-node against the reference runs (StableDiffusionPipeline, torch)', () => {
  let m: DiffusersNodeModel;
  beforeAll(async () => {
    m = await loadDiffusersFolder(TINY_SD1);
  });
  const measured: string[] = [];
  afterAll(async () => {
    console.log(`latent pipeline vs reference (onnxruntime-node):\n  ${measured.join('\n  ')}`);
    await m?.release();
  });

  for (const run of referenceRuns() as ReferenceRun[]) {
    it(`${run.id}: ${run.scheduler_class}, guidance ${run.guidance_scale}: latents within 1e-4, image within 1/255`, async () => {
      const request: LatentGenerateRequest = {
        prompt: run.prompt,
        seed: 0,
        steps: run.num_inference_steps,
        guidance: run.guidance_scale,
        scheduler: run.scheduler_class === 'DDIMScheduler' ? 'ddim' : undefined,
        initialLatents: referenceTensor(run.tensors.init_latents),
      };
      const { events, result } = await drain(generateLatent(m.runner, { model: m.model }, request));
      expect(result.tokens.ids).toEqual(run.input_ids.cond);
      expect(events.map((e) => e.timestep)).toEqual(run.timesteps);
      const latents = referenceTensor(run.tensors.latents);
      const n = 4 * 16 * 16;
      const errors = events.map((e, i) => relativeError(e.latents[0], latents.subarray(i * n, (i + 1) * n)));
      const worst = Math.max(...errors);
      const image = imageError(result.images[0], referenceTensor(run.tensors.image), 32 * 32);
      measured.push(`${run.id}: latents max ${worst.toExponential(2)} relative, image max ${image.toExponential(2)}`);
      expect(worst).toBeLessThan(1e-4);
      expect(image).toBeLessThan(1 / 255);
    });
  }
});

describe('an SD 2.x-style folder (Euler, v-prediction, pad "!") against diffusers driving the same graphs', () => {
  const FIXTURE = 'src/node/__fixtures__/sd2-style';
  const run = JSON.parse(readFileSync(join(FIXTURE, 'run.json'), 'utf8'));
  let m: DiffusersNodeModel;
  beforeAll(async () => {
    const dir = copyOfFixture('sd2-style');
    for (const file of [
      'model_index.json',
      'scheduler/scheduler_config.json',
      'tokenizer/tokenizer_config.json',
      'tokenizer/special_tokens_map.json',
    ]) {
      cpSync(join(FIXTURE, file), join(dir, file));
    }
    m = await loadDiffusersFolder(dir);
  });
  afterAll(() => m?.release());

  it('tokenizes with "!" padding, steps Euler with fractional timesteps, and reproduces every step and the image', async () => {
    expect(m.model.schedulerClass).toBe('EulerDiscreteScheduler');
    const { events, result } = await drain(
      generateLatent(
        m.runner,
        { model: m.model },
        {
          prompt: run.prompt,
          seed: 0,
          steps: run.steps,
          guidance: run.guidance,
          initialLatents: readFloats(join(FIXTURE, 'init_latents.bin')),
        },
      ),
    );
    expect(result.tokens.ids).toEqual(run.inputIds);
    expect(result.scheduler.className).toBe('EulerDiscreteScheduler');
    expect(result.scheduler.timesteps).toEqual(run.timesteps);
    expect(Math.abs(result.scheduler.initNoiseSigma - run.initNoiseSigma)).toBeLessThan(1e-5);
    const latents = readFloats(join(FIXTURE, 'latents.bin'));
    const n = 4 * 16 * 16;
    const errors = events.map((e, i) => relativeError(e.latents[0], latents.subarray(i * n, (i + 1) * n)));
    const image = imageError(result.images[0], readFloats(join(FIXTURE, 'image.bin')), 32 * 32);
    console.log(
      `SD 2.x-style Euler v-prediction: latents max ${Math.max(...errors).toExponential(2)} relative, image max ${image.toExponential(2)}`,
    );
    expect(Math.max(...errors)).toBeLessThan(1e-4);
    expect(image).toBeLessThan(1 / 255);
  });
});

describe('folders that cannot work', () => {
  it('a UNet without its weights file', async () => {
    const dir = copyOfFixture('no-weights');
    unlinkSync(join(dir, 'unet', 'weights.pb'));
    const error = await loadDiffusersFolder(dir).catch((e) => e);
    expect(error).toBeInstanceOf(DiffusersFolderError);
    expect(error.message).toMatch(/unet\/model.onnx could not be loaded by onnxruntime/);
    expect(error.message).toMatch(/needs that file beside it/);
  });

  it('a truncated graph', async () => {
    const dir = copyOfFixture('truncated');
    truncateSync(join(dir, 'text_encoder', 'model.onnx'), 1000);
    await expect(loadDiffusersFolder(dir)).rejects.toThrow(/text_encoder\/model.onnx could not be loaded/);
  });

  it('a folder without a tokenizer, and a folder that is not a diffusers model', async () => {
    const dir = copyOfFixture('no-tokenizer');
    rmSync(join(dir, 'tokenizer'), { recursive: true });
    await expect(loadDiffusersFolder(dir)).rejects.toThrow(/the tokenizer is missing/);
    await expect(loadDiffusersFolder('public/models/memlab-organism')).rejects.toThrow(
      /model_index.json is missing: this does not look like a diffusers model folder/,
    );
  });
});

describe('timesteps in the type and shape the UNet graph declares', () => {
  const meta = (type: string, shape: (number | string)[]) =>
    ({ name: 'timestep', isTensor: true, type, shape }) as Parameters<typeof timestepTensorOf>[1];
  const euler = Float32Array.of(749.25, 749.25);

  it('float32 per batch row, as exported by diffusers (the fixture)', () => {
    const t = timestepTensor(meta('float32', ['batch']), euler);
    expect([t.type, t.dims, Array.from(t.data as Float32Array)]).toEqual(['float32', [2], [749.25, 749.25]]);
  });

  it("int64 truncated like numpy's astype (diffusers' ONNX pipeline), one shared value for a [1] or scalar input", () => {
    const t = timestepTensor(meta('int64', [1]), euler);
    expect([t.type, t.dims, Array.from(t.data as BigInt64Array)]).toEqual(['int64', [1], [749n]]);
    const scalar = timestepTensor(meta('int32', []), euler);
    expect([scalar.type, scalar.dims, Array.from(scalar.data as Int32Array)]).toEqual(['int32', [], [749]]);
  });

  it('refuses a type it cannot feed, naming it', () => {
    expect(() => timestepTensor(meta('string', ['batch']), euler)).toThrow(/takes its timestep as string/);
  });
});
