import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { overlayReader, TINY_SD1 } from './__fixtures__/reference';
import { applyGraphLatentShape, readDiffusersFolder } from './folder';
import { createScheduler } from './schedulers';

const read = (overrides: Record<string, string | null> = {}) => readDiffusersFolder(overlayReader(TINY_SD1, overrides));

describe('readDiffusersFolder', () => {
  it('reads the fixture: latent 4 x 16 x 16, VAE x2 with scaling 0.18215, PNDM, CLIP padded with its end token', async () => {
    const model = await read();
    expect(model.pipelineClass).toBe('OnnxStableDiffusionPipeline');
    expect(model.latent).toEqual({ channels: 4, height: 16, width: 16 });
    expect(model.vae).toEqual({ scaleFactor: 2, scalingFactor: 0.18215 });
    expect(model.schedulerClass).toBe('PNDMScheduler');
    expect(model.textWidth).toBe(32);
    expect([model.tokenizer.maxLength, model.tokenizer.padId]).toEqual([77, 999]);
    expect(model.assumptions).toEqual([]);
  });

  it('reads the padding token from the folder: "!" for an SD 2.x-style tokenizer', async () => {
    const config = JSON.parse(readFileSync(`${TINY_SD1}/tokenizer/tokenizer_config.json`, 'utf8'));
    const model = await read({ 'tokenizer/tokenizer_config.json': JSON.stringify({ ...config, pad_token: '!' }) });
    expect(model.tokenizer.padId).toBe(0);
  });

  it('fills in and reports what the optional configs would say (hub ONNX exports ship none)', async () => {
    const model = await read({
      'unet/config.json': null,
      'vae_decoder/config.json': null,
      'text_encoder/config.json': null,
    });
    expect(model.latent).toEqual({ channels: 4, height: 64, width: 64 });
    expect(model.vae).toEqual({ scaleFactor: 8, scalingFactor: 0.18215 });
    expect(model.assumptions).toEqual([
      expect.stringMatching(/^latents are 64 x 64 \(512 x 512 pixels\)/),
      'the UNet takes 4 latent channels (no unet/config.json)',
      'the VAE upsamples latents 8 times (no vae_decoder/config.json)',
      'latents are divided by 0.18215 before decoding (the SD 1.x/2.x value)',
    ]);
    // a UNet graph exported with a fixed sample size settles the latent shape
    applyGraphLatentShape(model, ['batch', 4, 96, 64]);
    expect(model.latent).toEqual({ channels: 4, height: 96, width: 64 });
    expect(model.assumptions.length).toBe(2);
  });

  it("takes the scheduler class model_index.json names, as diffusers' pipelines do", async () => {
    const index = JSON.parse(readFileSync(`${TINY_SD1}/model_index.json`, 'utf8'));
    const model = await read({
      'model_index.json': JSON.stringify({ ...index, scheduler: ['diffusers', 'EulerDiscreteScheduler'] }),
    });
    expect(model.schedulerClass).toBe('EulerDiscreteScheduler');
    const s = createScheduler(model.schedulerConfig, 5, { modelClass: model.schedulerClass });
    expect(s.className).toBe('EulerDiscreteScheduler');
  });

  it('loads a DPMSolverMultistep folder (its config is non-strict JSON) and runs its scheduler', async () => {
    const dpm = readFileSync('src/core/diffusers/__fixtures__/dpm-solver-scheduler_config.json', 'utf8');
    const index = JSON.parse(readFileSync(`${TINY_SD1}/model_index.json`, 'utf8'));
    const model = await read({
      'scheduler/scheduler_config.json': dpm,
      'model_index.json': JSON.stringify({ ...index, scheduler: ['diffusers', 'DPMSolverMultistepScheduler'] }),
    });
    expect(model.schedulerConfig.lambda_min_clipped).toBe(Number.NEGATIVE_INFINITY);
    const s = createScheduler(model.schedulerConfig, 20, { modelClass: model.schedulerClass });
    expect(s.className).toBe('DPMSolverMultistepScheduler');
  });

  it('loads a folder whose scheduler the lab cannot run; generating names it', async () => {
    const index = JSON.parse(readFileSync(`${TINY_SD1}/model_index.json`, 'utf8'));
    const model = await read({
      'model_index.json': JSON.stringify({ ...index, scheduler: ['diffusers', 'LMSDiscreteScheduler'] }),
    });
    expect(() => createScheduler(model.schedulerConfig, 20, { modelClass: model.schedulerClass })).toThrow(
      /LMSDiscreteScheduler, which the lab cannot run/,
    );
  });

  it('names the missing or broken piece of a bad folder', async () => {
    await expect(read({ 'model_index.json': null })).rejects.toThrow(
      /model_index.json is missing: this does not look like a diffusers model folder/,
    );
    await expect(read({ 'tokenizer/vocab.json': null })).rejects.toThrow(
      /the tokenizer is missing: the folder needs tokenizer\/vocab.json and tokenizer\/merges.txt/,
    );
    await expect(read({ 'tokenizer/merges.txt': null })).rejects.toThrow(/the tokenizer is missing/);
    await expect(read({ 'unet/model.onnx': null, 'vae_decoder/model.onnx': null })).rejects.toThrow(
      /the folder lacks unet\/model.onnx, vae_decoder\/model.onnx/,
    );
    await expect(read({ 'scheduler/scheduler_config.json': null })).rejects.toThrow(
      /scheduler\/scheduler_config.json is missing/,
    );
    await expect(read({ 'scheduler/scheduler_config.json': '{"_class_name": "DDIMScheduler",' })).rejects.toThrow(
      /scheduler\/scheduler_config.json is not valid JSON/,
    );
    await expect(
      read({ 'tokenizer/tokenizer_config.json': '{"pad_token": "<pad>", "model_max_length": 77}' }),
    ).rejects.toThrow(/the tokenizer files cannot be used: the padding token "<pad>" is not in the vocabulary/);
  });
});
