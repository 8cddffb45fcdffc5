import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryCache } from '../core/science';
import { type NodeModel, loadNodeModel, loadTrainIndex } from '../node/runner';
import { defaultSparsity } from '../core/science/universal';
import {
  attributionScores,
  defaultScienceParams,
  isSmokeModel,
  universalMaskPreset,
  universalMasks,
} from '../core/jobs';
import { runScienceJob } from './science';

const DIR = 'public/models/fixture-random';

describe('science jobs in the worker (fixture, smoke sizes)', () => {
  let model: NodeModel;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'fp32' });
  });
  afterAll(() => model.release());

  const env = () => ({
    runner: model.runner,
    manifest: model.manifest,
    cache: memoryCache(),
    train: () => Promise.reject(new Error('not needed')),
  });

  it('answers the same experiment from the cache the second time, without a model call', async () => {
    const e = env();
    expect(isSmokeModel(e.manifest)).toBe(true);
    const params = defaultScienceParams(e.manifest, 'a painting of zephyr').detect;
    const stages: string[] = [];
    const first = await runScienceJob(e, { job: 'detect', params }, new AbortController().signal, (p) =>
      stages.push(p.stage),
    );
    expect(first.cached).toBe(false);
    expect(stages.length).toBeGreaterThan(0);
    const second = await runScienceJob(
      {
        ...e,
        runner: {
          encodeText: () => Promise.reject(new Error('called')),
          runUNet: () => Promise.reject(new Error('called')),
        },
      },
      { job: 'detect', params },
      new AbortController().signal,
      () => undefined,
    );
    expect(second.cached).toBe(true);
    expect(second.outcome).toEqual(first.outcome);
  });

  it('stops at the next model call once cancelled', async () => {
    const controller = new AbortController();
    const params = defaultScienceParams(model.manifest, '').study;
    const job = runScienceJob(env(), { job: 'study', params }, controller.signal, () => controller.abort());
    await expect(job).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('turns universal scores into a mask at a sparsity and the memorization-removed preset; attribution into head scores', async () => {
    const e = env();
    const p = defaultScienceParams(e.manifest, '');
    const { outcome } = await runScienceJob(
      e,
      { job: 'universal', params: p.universal },
      new AbortController().signal,
      () => undefined,
    );
    if (outcome.job !== 'universal') throw new Error('wrong job');
    // the default universal mask prunes cross-attention heads (5 layers x 4 on the fixture)
    expect(outcome.result.mask).toBe('cross_attn_head_mask');
    const masks = universalMasks(outcome.result, 0.2);
    expect(masks[outcome.result.mask]).toHaveLength(Math.round(0.2 * 5 * 4));
    const preset = universalMaskPreset(e.manifest, outcome.result)!;
    expect(preset.prompt).toBe(e.manifest.memorized[0].caption);
    expect(preset.masks[outcome.result.mask]).toHaveLength(Math.round(defaultSparsity('heads') * 20));
    expect(preset.label).toBe(`Universal mask (${Math.round(defaultSparsity('heads') * 100)}% of heads)`);
    // value neurons on request
    const neurons = await runScienceJob(
      e,
      { job: 'universal', params: defaultScienceParams(e.manifest, '', 'neurons').universal },
      new AbortController().signal,
      () => undefined,
    );
    if (neurons.outcome.job !== 'universal') throw new Error('wrong job');
    expect(neurons.outcome.result).toMatchObject({
      units: 'neurons',
      mode: 'activation',
      mask: 'cross_attn_value_mask',
    });
    expect(universalMasks(neurons.outcome.result, 0.1)[neurons.outcome.result.mask]).toHaveLength(8);
    const heads = await runScienceJob(
      e,
      { job: 'attribution', params: p.attribution },
      new AbortController().signal,
      () => undefined,
    );
    if (heads.outcome.job !== 'attribution') throw new Error('wrong job');
    const scores = attributionScores(heads.outcome.result);
    expect(scores.masks.cross_attn_head_mask).toHaveLength(5 * 4);
    expect(scores.label).toMatch(/ablation/);
  });

  it('runs a prompt on every model of a family (opened lazily), and a repeat comes from the cache unchanged', async () => {
    const train = await loadTrainIndex(DIR, model.manifest);
    const opened: string[] = [];
    const e = {
      ...env(),
      train: async () => train,
      openModel: async (url: string) => (opened.push(url), { manifest: model.manifest, runner: model.runner }),
    };
    const params = {
      models: [
        { id: 'a', url: 'u/a/' },
        { id: 'b', url: 'u/b/' },
      ],
      prompt: 'a painting of zephyr',
      seed: 3,
      steps: 2,
      guidance: 4,
      masks: { cross_attn_head_mask: [0] },
    };
    const first = await runScienceJob(e, { job: 'variants', params }, new AbortController().signal, () => undefined);
    if (first.outcome.job !== 'variants') throw new Error('wrong job');
    expect(opened).toEqual(['u/a/', 'u/b/']);
    expect(first.outcome.result.masked).toBe(true);
    expect(first.outcome.result.cells.map((c) => c.images.length)).toEqual([2, 2]);
    const [plain, masked] = first.outcome.result.cells[0].images;
    expect(plain.image).toHaveLength(3 * 32 * 32);
    expect(masked.image).not.toEqual(plain.image); // the mask changes the image
    expect(first.outcome.result.cells[1].images[0].image).toEqual(plain.image); // same weights, same seed
    const again = await runScienceJob(e, { job: 'variants', params }, new AbortController().signal, () => undefined);
    expect(again.cached).toBe(true);
    expect(opened).toHaveLength(2);
    expect(again.outcome).toEqual(first.outcome);
  });

  it('takes the universal scores of Evaluate from the cache after Find universal mask: no UNet call for them', async () => {
    const train = await loadTrainIndex(DIR, model.manifest);
    let unetCalls = 0;
    const counting = {
      encodeText: (ids: Parameters<typeof model.runner.encodeText>[0]) => model.runner.encodeText(ids),
      runUNet: (...args: Parameters<typeof model.runner.runUNet>) => (unetCalls++, model.runner.runUNet(...args)),
    };
    const p = defaultScienceParams(model.manifest, '');
    const run = async (e: Parameters<typeof runScienceJob>[0], request: Parameters<typeof runScienceJob>[1]) => {
      const before = unetCalls;
      const { cached } = await runScienceJob(e, request, new AbortController().signal, () => undefined);
      return { calls: unetCalls - before, cached };
    };
    const withTrain = () => ({ ...env(), runner: counting, train: async () => train });

    // Evaluate alone: it computes the universal scores itself.
    const evaluated = withTrain();
    const alone = await run(evaluated, { job: 'evaluate', params: p.evaluate });
    // Find universal mask, then Evaluate on the same cache.
    const lab = withTrain();
    const universal = await run(lab, { job: 'universal', params: p.universal });
    expect(universal.calls).toBeGreaterThan(0);
    const after = await run(lab, { job: 'evaluate', params: p.evaluate });
    expect(after.cached).toBe(false); // the report itself is new
    expect(after.calls).toBe(alone.calls - universal.calls);
    // and the other way round: Find universal mask after Evaluate is answered from the cache
    expect(await run(evaluated, { job: 'universal', params: p.universal })).toEqual({ calls: 0, cached: true });
  }, 300_000);
});
