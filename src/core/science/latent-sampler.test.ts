import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DiffusersScienceModel, openDiffusersScience } from '../../node/diffusers-science';
import { type LatentGenerateResult, generateLatent } from '../diffusers/latent-pipeline';
import { type MaskSet, allOnes, maskSetFromPruned } from '../masks';
import { encodePrompts, sampleRows } from './batch';
import type { Progress } from './context';
import { measureStepTime } from './cost';
import { valueActivationsOf } from './localize';
import { maskSpecOfKind, VALUE_NEURON_KIND } from './units';

// A Stable-Diffusion-1-style folder with random weights; its scheduler is PNDM as SD 1.x ships it.
const DIR = '../shared/fixtures/tiny-sd1';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('the latent science sampler (diffusers folder, instrumented on load)', () => {
  let sd: DiffusersScienceModel;
  beforeAll(async () => {
    sd = await openDiffusersScience(DIR);
  }, 60_000);
  afterAll(() => sd?.release());

  async function alone(prompt: string, seed: number, steps: number, variant: MaskSet): Promise<LatentGenerateResult> {
    const gen = generateLatent(
      sd.loaded.runner,
      { model: sd.loaded.model, masks: sd.manifest.unet.masks },
      { prompt, seed, steps, guidance: 7.5, variants: [variant] },
    );
    for (;;) {
      const next = await gen.next();
      if (next.done) return next.value;
    }
  }

  it('gives every row what generateLatent gives for its prompt, seed and mask, with per-row multistep state', async () => {
    const m = sd.manifest;
    const heads = m.unet.masks.find((s) => s.kind === 'cross-attention head')!;
    const pruned = maskSetFromPruned(m, [{ mask: heads.name, layer: 0, unit: 1 }]);
    const prompts = ['a red bicycle against a wall', 'a bowl of fruit'];
    const emb = await encodePrompts(sd.sampler, m, prompts);
    const rows = [
      { prompt: 0, seed: 3, maskSet: 0 },
      { prompt: 1, seed: 5, maskSet: 1 },
      { prompt: 0, seed: 5, maskSet: 1 },
    ];
    const progress: Progress[] = [];
    const steps = 2;
    const calls = sd.sampler.callsFor(steps);
    const out = await sampleRows(
      sd.sampler,
      m,
      emb,
      [allOnes(m), pruned],
      rows,
      { steps, guidance: 7.5, keepImages: true, keepFirstDifference: true, maxRows: 2 },
      { onProgress: (p) => progress.push(p) },
    );
    expect(out.unetCalls).toBe(2 * calls);
    expect(progress.at(-1)).toMatchObject({ stage: 'sample', done: 2 * calls, total: 2 * calls });
    const shape = sd.sampler.noiseShape;
    for (const [i, r] of rows.entries()) {
      const ref = await alone(prompts[r.prompt], r.seed, steps, r.maskSet === 0 ? allOnes(m) : pruned);
      expect(ref.noiseGaps!.length).toBe(calls);
      expect(Array.from(out.gaps[i])).toEqual(ref.noiseGaps!.map((g) => expect.closeTo(g[0], 4)));
      expect(out.images![i].length).toBe(ref.images[0].length);
      expect(maxAbsDiff(out.images![i], ref.images[0])).toBeLessThan(1e-5);
      expect(out.firstDifferences![i].length).toBe(shape.channels * shape.height * shape.width);
    }
    // the pruned head changes the trajectory of the same prompt and seed
    expect(maxAbsDiff(out.images![2], (await alone(prompts[0], 5, steps, allOnes(m))).images[0])).toBeGreaterThan(1e-4);
  }, 60_000);

  it('reads value projections per prompt, times a UNet call, and aborts between calls', async () => {
    const m = sd.manifest;
    const spec = maskSpecOfKind(m, VALUE_NEURON_KIND);
    const emb = await encodePrompts(sd.sampler, m, ['a cat', 'a mountain lake at sunrise', 'a dog']);
    const acts = await valueActivationsOf(sd.sampler, m, emb, {}, 2);
    expect(acts.map((a) => a.length)).toEqual([1, 2, 3].map(() => spec.layers * spec.units));
    expect(acts[0].some((v) => v > 0)).toBe(true);
    expect(maxAbsDiff(acts[0], acts[1])).toBeGreaterThan(0);
    const step = await measureStepTime(sd.sampler, m, 4, 2);
    expect(step.batch).toBe(4);
    expect(step.msPerEvaluation).toBeGreaterThan(0);
    const controller = new AbortController();
    const run = sampleRows(
      sd.sampler,
      m,
      emb,
      [allOnes(m)],
      [{ prompt: 0, seed: 1, maskSet: 0 }],
      { steps: 3, guidance: 7.5 },
      { signal: controller.signal, onProgress: (p) => p.done === 1 && controller.abort() },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
  }, 60_000);
});
