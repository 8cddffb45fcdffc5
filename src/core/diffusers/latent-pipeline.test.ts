/**
 * The latent pipeline with its models replaced by the shared fixture's RECORDED torch outputs
 * (../shared/fixtures/tiny-sd1/reference): text embeddings, every UNet call's output and the VAE
 * decoder's output. What the pipeline feeds them (token ids, UNet inputs and timesteps, the VAE
 * input) and what it makes of them (guidance, scheduler steps, the image) must equal what
 * diffusers' StableDiffusionPipeline recorded. The same pipeline on the real ONNX graphs is tested
 * in src/node/diffusers-runner.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { allOnes, maskSetFromPruned } from '../masks';
import type { UNetOutputs } from '../pipeline';
import {
  overlayReader,
  type ReferenceRun,
  referenceRuns,
  referenceTensor,
  relativeError,
  TINY_SD1,
} from './__fixtures__/reference';
import { readDiffusersFolder } from './folder';
import {
  generateLatent,
  type LatentGenerateRequest,
  type LatentGenerateResult,
  type LatentModelSpec,
  type LatentRunner,
  type LatentStepEvent,
  type LatentUNetFeeds,
} from './latent-pipeline';

const model = await readDiffusersFolder(overlayReader(TINY_SD1));
const LATENT = 4 * 16 * 16;

async function drain(gen: AsyncGenerator<LatentStepEvent, LatentGenerateResult, void>) {
  const events: LatentStepEvent[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) return { events, result: next.value };
    events.push(next.value);
  }
}

/** A runner that answers with a reference run's recorded outputs and keeps what it was fed. */
function recordedRunner(run: ReferenceRun) {
  const t = run.tensors;
  const cond = referenceTensor(t.text_embeds_cond);
  const uncond = t.text_embeds_uncond ? referenceTensor(t.text_embeds_uncond) : undefined;
  const unetOut = referenceTensor(t.unet_output);
  const decoded = referenceTensor(t.image_decoded);
  const seen = {
    ids: [] as number[][],
    samples: [] as Float32Array[],
    timesteps: [] as number[][],
    vae: [] as Float32Array[],
  };
  let call = 0;
  const runner: LatentRunner = {
    async encodeText(ids, batch) {
      const T = ids.length / batch;
      const rows = Array.from({ length: batch }, (_, b) => Array.from(ids.subarray(b * T, (b + 1) * T)));
      seen.ids.push(...rows);
      const out = new Float32Array(batch * cond.length);
      rows.forEach((row, b) => {
        const which = row.join() === run.input_ids.cond.join() ? cond : uncond;
        if (!which) throw new Error('the unconditional prompt was encoded although guidance is off');
        out.set(which, b * which.length);
      });
      return out;
    },
    async runUNet(feeds: LatentUNetFeeds): Promise<UNetOutputs> {
      seen.samples.push(feeds.sample.slice());
      seen.timesteps.push(Array.from(feeds.timestep));
      const n = feeds.batch * LATENT;
      return { noise: unetOut.slice(call * n, ++call * n) };
    },
    async decodeLatents(latents) {
      seen.vae.push(latents.slice());
      return decoded.slice();
    },
  };
  return { runner, seen };
}

const spec: LatentModelSpec = { model };

describe('the latent pipeline on recorded UNet outputs (diffusers 0.21.4 StableDiffusionPipeline)', () => {
  for (const run of referenceRuns()) {
    it(`${run.id}: ${run.scheduler_class}, guidance ${run.guidance_scale}`, async () => {
      const { runner, seen } = recordedRunner(run);
      const request: LatentGenerateRequest = {
        prompt: run.prompt,
        seed: 0,
        steps: run.num_inference_steps,
        guidance: run.guidance_scale,
        scheduler: run.scheduler_class === 'DDIMScheduler' ? 'ddim' : undefined,
        initialLatents: referenceTensor(run.tensors.init_latents),
      };
      const { events, result } = await drain(generateLatent(runner, spec, request));
      const guided = run.guidance_scale > 1;
      // the prompts the text encoder saw: [empty, prompt] with guidance, the prompt alone without
      expect(seen.ids).toEqual(guided ? [run.input_ids.uncond, run.input_ids.cond] : [run.input_ids.cond]);
      expect(result.scheduler.timesteps).toEqual(run.timesteps);
      expect(events.map((e) => e.timestep)).toEqual(run.timesteps);
      const unetIn = referenceTensor(run.tensors.unet_input);
      const latents = referenceTensor(run.tensors.latents);
      const rows = guided ? 2 : 1;
      // PNDM within 2e-7 (torch 1.13's float32 betas differ from torch 2's in the last bit); DDIM exact
      const tolerance = run.scheduler_class === 'DDIMScheduler' ? 1e-12 : 2e-7;
      events.forEach((e, i) => {
        expect(seen.timesteps[i]).toEqual(new Array(rows).fill(run.timesteps[i]));
        const fed = unetIn.subarray(i * rows * LATENT, (i + 1) * rows * LATENT);
        expect(relativeError(seen.samples[i], fed), `UNet input ${i}`).toBeLessThan(tolerance);
        expect(
          relativeError(e.latents[0], latents.subarray(i * LATENT, (i + 1) * LATENT)),
          `latents ${i}`,
        ).toBeLessThan(tolerance);
        expect(e.noiseGap === undefined).toBe(!guided);
      });
      expect(relativeError(seen.vae[0], referenceTensor(run.tensors.vae_input))).toBeLessThan(tolerance);
      // image: diffusers' (x / 2 + 0.5).clamp(0, 1) in NHWC; ours is the clamped decoder output, CHW
      const image = referenceTensor(run.tensors.image);
      let worst = 0;
      for (let c = 0; c < 3; c++)
        for (let p = 0; p < 32 * 32; p++) {
          worst = Math.max(worst, Math.abs((result.images[0][c * 1024 + p] + 1) / 2 - image[p * 3 + c]));
        }
      expect(worst).toBeLessThan(1e-6);
      expect(result.imageSize).toEqual({ height: 32, width: 32 });
    });
  }
});

/** A stand-in UNet whose prediction depends on the sample, the timestep, the text and the first mask scale. */
function syntheticRunner(withMasks: boolean) {
  const decodes: Float32Array[] = [];
  const feedsSeen: LatentUNetFeeds[] = [];
  const runner: LatentRunner = {
    async encodeText(ids, batch) {
      return Float32Array.from({ length: batch * 77 * 32 }, (_, i) => ids[Math.floor(i / 32)] / 1000);
    },
    async runUNet(feeds) {
      feedsSeen.push({
        ...feeds,
        sample: feeds.sample.slice(),
        timestep: feeds.timestep.slice(),
        masks: { ...feeds.masks },
      });
      const n = feeds.sample.length / feeds.batch;
      const noise = new Float32Array(feeds.batch * n);
      for (let b = 0; b < feeds.batch; b++) {
        const text = feeds.context[b * 77 * 32 + 32]; // first prompt token after the begin token
        const scale = withMasks ? feeds.masks.m[b * 6] : 1;
        for (let i = 0; i < n; i++) {
          noise[b * n + i] = Math.tanh(feeds.sample[b * n + i]) * 0.5 + text * scale + feeds.timestep[b] / 5000;
        }
      }
      return { noise, crossAttention: [Float32Array.from({ length: feeds.batch * 3 }, (_, i) => i)] };
    },
    async decodeLatents(latents, batch, latent) {
      decodes.push(latents.slice());
      const pixels = 3 * latent.height * 2 * latent.width * 2;
      return Float32Array.from({ length: batch * pixels }, (_, i) => latents[i % latents.length] * 3);
    },
  };
  return { runner, decodes, feedsSeen };
}

const base: LatentGenerateRequest = { prompt: 'a photo of a cat', seed: 7, steps: 4, guidance: 7.5 };

describe('latent pipeline behaviour', () => {
  it('starts from the seeded Gaussian latents times init_noise_sigma; same seed, same image', async () => {
    const { gaussianNoise } = await import('../rng');
    const run = (seed: number) => {
      const probe = syntheticRunner(false);
      return drain(generateLatent(probe.runner, spec, { ...base, seed, scheduler: 'euler' })).then((r) => ({
        ...r,
        probe,
      }));
    };
    const [a, b, c] = await Promise.all([run(7), run(7), run(8)]);
    expect(a.result.latents[0]).toEqual(b.result.latents[0]);
    expect(a.result.images[0]).toEqual(b.result.images[0]);
    expect(relativeError(c.result.latents[0], a.result.latents[0])).toBeGreaterThan(0.01);
    // Euler (leading spacing, from SD 1.5's config; 4 steps start at 751): the latents are the
    // noise times init_noise_sigma = sqrt(sigma_751^2 + 1), and the UNet's first input divides them
    // by sqrt(sigma_751^2 + 1) again: the noise itself
    expect(a.result.scheduler.timesteps).toEqual([751, 501, 251, 1]);
    expect(a.result.scheduler.initNoiseSigma).toBeGreaterThan(4);
    const noise = gaussianNoise(7, LATENT);
    expect(relativeError(a.probe.feedsSeen[0].sample.subarray(0, LATENT), noise)).toBeLessThan(1e-6);
    expect(Array.from(a.probe.feedsSeen[0].timestep)).toEqual([751, 751]);
  });

  it('gives the same result for user latents equal to the seeded noise', async () => {
    const { gaussianNoise } = await import('../rng');
    const seeded = await drain(generateLatent(syntheticRunner(false).runner, spec, base));
    const given = await drain(
      generateLatent(syntheticRunner(false).runner, spec, {
        ...base,
        seed: 99,
        initialLatents: gaussianNoise(7, LATENT),
      }),
    );
    expect(given.result.images[0]).toEqual(seeded.result.images[0]);
  });

  it('runs mask variants in one batch, [uncond, cond] per variant, from the same latents', async () => {
    const masks = [{ name: 'm', layers: 2, units: 3, kind: 'cross-attention head' }];
    const pruned = maskSetFromPruned(masks, [{ mask: 'm', layer: 0, unit: 0 }]);
    const { runner, feedsSeen } = syntheticRunner(true);
    const { events, result } = await drain(
      generateLatent(runner, { model, masks }, { ...base, variants: [allOnes(masks), pruned], captureAttention: true }),
    );
    const feeds = feedsSeen[0];
    expect(feeds.batch).toBe(4);
    expect(Array.from(feeds.masks.m.filter((_, i) => i % 6 === 0))).toEqual([1, 1, 0, 0]);
    expect(feeds.sample.subarray(0, LATENT)).toEqual(feeds.sample.subarray(2 * LATENT, 3 * LATENT));
    expect(relativeError(result.images[1], result.images[0])).toBeGreaterThan(1e-3);
    // attention: the conditional row of each variant
    expect(events[0].attention?.[0].map((a) => Array.from(a))).toEqual([
      [3, 4, 5],
      [9, 10, 11],
    ]);
    expect(events[0].noiseGap?.length).toBe(2);
  });

  it('runs a UNet without mask inputs, and refuses masks it does not have', async () => {
    const { feedsSeen, runner } = syntheticRunner(false);
    await drain(generateLatent(runner, spec, base));
    expect(feedsSeen[0].masks).toEqual({});
    await expect(
      drain(generateLatent(runner, spec, { ...base, variants: [{ m: new Float32Array(6).fill(1) }] })),
    ).rejects.toThrow(/unknown mask input/);
  });

  it('decodes previews of the predicted clean latents at the cadence and at the last step', async () => {
    const { runner, decodes } = syntheticRunner(false);
    const { events } = await drain(generateLatent(runner, spec, { ...base, steps: 5, previewEvery: 2 }));
    // PNDM: 6 calls for 5 steps; previews after calls 2, 4 and 6, then the final decode
    expect(events.map((e) => e.previews !== undefined)).toEqual([false, true, false, true, false, true]);
    expect(decodes.length).toBe(4);
    const x0 = events[1].predOriginal[0];
    expect(decodes[0][5]).toBeCloseTo(x0[5] / 0.18215, 5);
    for (const v of events[1].previews?.[0] ?? []) expect(Math.abs(v)).toBeLessThanOrEqual(1);
  });

  it('says what is wrong with a request', async () => {
    const { runner } = syntheticRunner(false);
    await expect(
      drain(generateLatent(runner, spec, { ...base, initialLatents: new Float32Array(10) })),
    ).rejects.toThrow(/initial latents hold 10 values; 4 x 16 x 16 = 1024 are needed/);
    await expect(drain(generateLatent(runner, spec, { ...base, height: 33 }))).rejects.toThrow(/multiple of 2 pixels/);
    await expect(drain(generateLatent(runner, spec, { ...base, scheduler: 'lms' }))).rejects.toThrow(/cannot run/);
    const big = await drain(generateLatent(runner, spec, { ...base, height: 48, width: 64 }));
    expect(big.result.imageSize).toEqual({ height: 48, width: 64 });
  });

  it('stops at the next step boundary when aborted', async () => {
    const controller = new AbortController();
    const gen = generateLatent(syntheticRunner(false).runner, spec, base, controller.signal);
    await gen.next();
    controller.abort();
    await expect(gen.next()).rejects.toThrow(/aborted before step 2/);
  });
});
