/**
 * In-worker benchmark: what the generation pipeline (core generate() plus this worker's per-step
 * work: the event-loop yield and the RGBA previews) costs per step, against a bare session.run
 * loop on the same session with prepared tensors. Steps of the two alternate one to one (and which
 * goes first alternates), so machine load hits both alike; medians per step are reported.
 */
import { chwToRgba } from '../core/image';
import { organism } from '../core/manifest';
import { allOnes, stackMaskSets } from '../core/masks';
import { generate } from '../core/pipeline';
import { gaussianNoise } from '../core/rng';
import {
  type StepComparison,
  type StepTimes,
  compareStepTimes,
  quantile,
  timeInterleaved,
} from '../core/paired-timing';
import { tokenize } from '../core/tokenizer';
import type { LoadedModel } from './load-model';
import { yieldToEventLoop } from './yield';

export interface PipelineBench extends StepComparison {
  kind: 'pipeline';
  backend: string;
  threads: number;
  /** UNet batch: 2 (unconditional + conditional, one variant) */
  batch: number;
  steps: number;
}

const PROMPT_FALLBACK = 'a painting';

export async function benchPipeline(model: LoadedModel, steps: number, generations: number): Promise<PipelineBench> {
  const { runner } = model;
  const manifest = organism(model.manifest);
  const { prompt, unet, feeds, fetches } = await bareFeeds(model, 2);
  const { height, width } = manifest.image;

  const times: StepTimes = { bare: [], pipeline: [] };
  // Generation 0 warms up kernels and arenas and is not recorded.
  for (let g = 0; g <= generations; g++) {
    const gen = generate(runner, manifest, {
      prompt,
      seed: 7 + g,
      steps,
      guidance: manifest.defaults.guidance,
      variants: [allOnes(manifest)],
      captureAttention: false,
    });
    await gen.next(); // the first step also encodes the prompt: left out of both sides
    const pipelineStep = async () => {
      await yieldToEventLoop();
      const next = await gen.next();
      if (!next.done) for (const p of next.value.previews) chwToRgba(p, width, height);
    };
    await timeInterleaved(steps - 1, () => unet.run(feeds, fetches), pipelineStep, times, g > 0);
    if (!(await gen.next()).done) throw new Error('the benchmark generation did not finish after its last step');
  }
  return {
    kind: 'pipeline',
    backend: model.backend.backend,
    threads: model.backend.threads,
    batch: 2,
    steps,
    ...compareStepTimes(times),
  };
}

/** A bare session.run loop: the UNet time a generation of this many rows and steps cannot go below. */
export interface BareBench {
  kind: 'bare';
  backend: string;
  threads: number;
  /** UNet batch: two rows (unconditional + conditional) per image */
  batch: number;
  steps: number;
  totalMs: number;
  medianMsPerStep: number;
}

/**
 * `steps` calls of session.run at `batch` rows with prepared tensors, fetching the noise alone:
 * what the UNet itself costs for the same work as a generation, without the pipeline around it.
 */
export async function benchBare(model: LoadedModel, steps: number, batch: number): Promise<BareBench> {
  if (!(Number.isInteger(batch) && batch >= 2 && batch % 2 === 0))
    throw new RangeError(`the batch must be an even number of rows, got ${batch}`);
  const { unet, feeds, fetches } = await bareFeeds(model, batch);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await unet.run(feeds, fetches);
    times.push(performance.now() - t0);
  }
  return {
    kind: 'bare',
    backend: model.backend.backend,
    threads: model.backend.threads,
    batch,
    steps,
    totalMs: +times.reduce((a, b) => a + b, 0).toFixed(3),
    medianMsPerStep: +quantile(times, 0.5).toFixed(3),
  };
}

/**
 * A UNet batch of `batch` rows ([unconditional, conditional] pairs of one prompt, all-ones masks),
 * built once outside any timed region: what both benches hand session.run directly.
 */
async function bareFeeds(model: LoadedModel, batch: number) {
  const { runner } = model;
  const manifest = organism(model.manifest);
  const { ort, unet } = runner.bare;
  const prompt = manifest.memorized[0]?.caption ?? PROMPT_FALLBACK;
  const { channels, height, width } = manifest.image;
  const u = manifest.unet;
  const pair = await runner.encodeText([tokenize('', manifest.text).ids, tokenize(prompt, manifest.text).ids]);
  const context = new Float32Array((batch / 2) * pair.length);
  for (let r = 0; r < batch / 2; r++) context.set(pair, r * pair.length);
  const masks = stackMaskSets(
    manifest,
    Array.from({ length: batch / 2 }, () => allOnes(manifest)),
    2,
  );
  const sample = gaussianNoise(7, batch * channels * height * width);
  const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {
    [u.inputs.sample]: new ort.Tensor('float32', sample, [batch, channels, height, width]),
    [u.inputs.timestep]: new ort.Tensor('float32', new Float32Array(batch).fill(manifest.schedule.trainSteps - 1), [
      batch,
    ]),
    [u.inputs.context]: new ort.Tensor('float32', context, [batch, manifest.text.maxTokens, manifest.text.width]),
  };
  for (const m of u.masks) feeds[m.name] = new ort.Tensor('float32', masks[m.name], [batch, m.layers, m.units]);
  return { prompt, unet, feeds, fetches: [u.noiseOutput] };
}
