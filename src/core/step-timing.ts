/**
 * How long one denoising step takes on a runner: one UNet call at batch 2 (the unconditional and
 * the conditional row of one guided image, as a generation runs it), so the loader can compare
 * two backends on the user's own machine and keep the faster.
 *
 * The first calls compile kernels and fill caches (on a GPU, shader compilation can take longer
 * than many steps) and are not counted. The figure is the fastest timed call: load from other
 * work on the machine only ever adds time, so the minimum is the steadiest estimate of the
 * backend itself. It times the lab's own models (the organism's schedule and vocabulary); a
 * brought Stable Diffusion model is not measured.
 */
import { type Manifest, organism } from './manifest';
import { allOnes, stackMaskSets } from './masks';
import type { ModelRunner, UNetFeeds } from './pipeline';
import { gaussianNoise } from './rng';
import { tokenize } from './tokenizer';

export interface StepTimingOptions {
  /** a monotonic clock in milliseconds (performance.now) */
  now: () => number;
  /** uncounted calls first; default 1 */
  warmups?: number;
  /** timed calls at most; default 3 */
  maxRuns?: number;
  /** stop timing once this much time went to timed calls (at least one is always made); default 1500 */
  budgetMs?: number;
}

export interface StepTiming {
  /** the fastest timed call */
  ms: number;
  /** timed calls made */
  runs: number;
}

/** Feeds for one guided step of the manifest's model: empty and default prompt, noise, no pruning. */
async function stepFeeds(runner: ModelRunner, model: Manifest): Promise<UNetFeeds> {
  const manifest = organism(model);
  const { text, image, schedule } = manifest;
  const prompt = manifest.memorized[0]?.caption ?? manifest.neutralPrompts[0] ?? '';
  const context = await runner.encodeText([tokenize('', text).ids, tokenize(prompt, text).ids]);
  const pixels = image.channels * image.height * image.width;
  return {
    batch: 2,
    sample: gaussianNoise(manifest.defaults.seed, 2 * pixels),
    timestep: new Float32Array(2).fill(Math.floor(schedule.trainSteps / 2)),
    context,
    masks: stackMaskSets(manifest, [allOnes(manifest)], 2),
  };
}

export async function timeUNetStep(
  runner: ModelRunner,
  manifest: Manifest,
  options: StepTimingOptions,
): Promise<StepTiming> {
  const { now, warmups = 1, maxRuns = 3, budgetMs = 1500 } = options;
  const feeds = await stepFeeds(runner, manifest);
  const want = { attention: false, values: false };
  for (let i = 0; i < warmups; i++) await runner.runUNet(feeds, want);
  let best = Number.POSITIVE_INFINITY;
  let spent = 0;
  let runs = 0;
  while (runs < Math.max(1, maxRuns) && (runs === 0 || spent < budgetMs)) {
    const started = now();
    await runner.runUNet(feeds, want);
    const ms = now() - started;
    best = Math.min(best, ms);
    spent += ms;
    runs++;
  }
  return { ms: best, runs };
}
