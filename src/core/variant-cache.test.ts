import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeModel, loadNodeModel } from '../node/runner';
import { organism, parseManifest } from './manifest';
import { allOnes, maskSetOfUnits } from './masks';
import {
  type GenerateRequest,
  type GenerateResult,
  type ModelRunner,
  type StepEvent,
  type UNetFeeds,
  generate,
} from './pipeline';
import { VariantCache, generateCached, variantKey } from './variant-cache';

const ORGANISM = 'public/models/memlab-organism';

async function drain(gen: AsyncGenerator<StepEvent, GenerateResult, void>) {
  const events: StepEvent[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) return { events, result: next.value };
    events.push(next.value);
  }
}

/** -1 when the two arrays hold the same float32 bits, else the first index where they differ. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

/** Every number of two runs (step events and results, attention included) compared bit for bit. */
function expectSameRun(
  got: { events: StepEvent[]; result: GenerateResult },
  want: { events: StepEvent[]; result: GenerateResult },
) {
  expect(got.events.length).toBe(want.events.length);
  got.events.forEach((e, i) => {
    const w = want.events[i];
    expect([e.step, e.of, e.timestep]).toEqual([w.step, w.of, w.timestep]);
    expect(e.noiseGap).toEqual(w.noiseGap);
    expect(e.previews.map((p, v) => firstDifference(p, w.previews[v]))).toEqual(w.previews.map(() => -1));
    expect(e.attention?.length).toBe(w.attention?.length);
    e.attention?.forEach((layer, l) =>
      expect(layer.map((a, v) => firstDifference(a, w.attention![l][v]))).toEqual(layer.map(() => -1)),
    );
  });
  const r = got.result;
  const w = want.result;
  expect(r.images.map((img, v) => firstDifference(img, w.images[v]))).toEqual(w.images.map(() => -1));
  expect(r.noiseGaps).toEqual(w.noiseGaps);
  expect(r.tokens).toEqual(w.tokens);
  expect(r.attention?.length).toBe(w.attention?.length);
  r.attention?.forEach((step, s) =>
    step.forEach((layer, l) =>
      expect(layer.map((a, v) => firstDifference(a, w.attention![s][l][v]))).toEqual(layer.map(() => -1)),
    ),
  );
}

/** The runner, counting the rows of every UNet call. */
function counting(runner: ModelRunner): { runner: ModelRunner; batches: number[] } {
  const batches: number[] = [];
  return {
    batches,
    runner: {
      encodeText: (ids) => runner.encodeText(ids),
      runUNet: (feeds: UNetFeeds, want) => {
        batches.push(feeds.batch);
        return runner.runUNet(feeds, want);
      },
    },
  };
}

describe.each(['node', 'wasm'] as const)('a cached variant on the organism (%s)', (backend) => {
  let model: NodeModel;
  beforeAll(async () => {
    model = await loadNodeModel(ORGANISM, { backend, precision: 'int8' });
  }, 120_000);
  afterAll(() => model?.release());

  const request = (variants: GenerateRequest['variants'], captureAttention = true): GenerateRequest => ({
    prompt: 'a painting of zephyr',
    seed: 7,
    steps: 6,
    guidance: 4,
    variants,
    captureAttention,
  });

  it('gives the same baseline and pruned pixels, noise gaps and attention as one batch that recomputes both', async () => {
    const m = model.manifest;
    const pruned = maskSetOfUnits(m, { cross_attn_head_mask: [1, 6, 13] });
    const recomputed = await drain(generate(model.runner, m, request([allOnes(m), pruned])));

    const cache = new VariantCache();
    const first = counting(model.runner);
    const alone = await drain(generateCached(first.runner, m, request([allOnes(m)]), cache));
    expect(first.batches).toEqual(Array(6).fill(2));

    // The click: the baseline comes from the cache, the pruned variant runs alone (2 rows, not 4).
    const click = counting(model.runner);
    const reused = await drain(generateCached(click.runner, m, request([allOnes(m), pruned]), cache));
    expect(click.batches).toEqual(Array(6).fill(2));
    expectSameRun(reused, recomputed);
    expect(firstDifference(alone.result.images[0], recomputed.result.images[0])).toBe(-1);

    // Toggling back (or Reset all): both variants held, no UNet call at all.
    const back = counting(model.runner);
    const replayed = await drain(generateCached(back.runner, m, request([allOnes(m), pruned]), cache));
    expect(back.batches).toEqual([]);
    expectSameRun(replayed, recomputed);
  }, 300_000);
});

describe('VariantCache', () => {
  const parsed = parseManifest(JSON.parse(readFileSync('public/models/fixture-random/manifest.json', 'utf8')));
  if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
  const manifest = organism(parsed.manifest);
  const PIXELS = 3 * 32 * 32;
  const T = manifest.text.maxTokens;
  const W = manifest.text.width;

  /** A fake model whose noise is the sample scaled by each row's first head-mask scale; attention rows hold the scale. */
  function fakeRunner(): { runner: ModelRunner; batches: number[] } {
    const batches: number[] = [];
    const runner: ModelRunner = {
      async encodeText(ids) {
        return new Float32Array((ids as number[][]).length * T * W);
      },
      async runUNet(feeds, want) {
        batches.push(feeds.batch);
        const heads = feeds.masks.cross_attn_head_mask;
        const perRow = heads.length / feeds.batch;
        const noise = new Float32Array(feeds.batch * PIXELS);
        for (let b = 0; b < feeds.batch; b++)
          for (let i = 0; i < PIXELS; i++)
            noise[b * PIXELS + i] = feeds.sample[b * PIXELS + i] * 0.5 * heads[b * perRow] + (b % 2) * 0.01;
        if (!want.attention) return { noise };
        const crossAttention = manifest.unet.layers.map((l) => {
          const row = l.heads * l.resolution * l.resolution * T;
          const probs = new Float32Array(feeds.batch * row);
          for (let b = 0; b < feeds.batch; b++) probs.fill(heads[b * perRow] + b / 10, b * row, (b + 1) * row);
          return probs;
        });
        return { noise, crossAttention };
      },
    };
    return { runner, batches };
  }

  const request = (over: Partial<GenerateRequest> = {}): GenerateRequest => ({
    prompt: 'a painting of zephyr',
    seed: 3,
    steps: 4,
    guidance: 4,
    variants: [allOnes(manifest)],
    captureAttention: false,
    ...over,
  });
  const pruned = () => maskSetOfUnits(manifest, { cross_attn_head_mask: [0] });

  it('keys a variant by model, prompt, seed, steps, guidance and its masks', () => {
    const key = variantKey(manifest, request(), allOnes(manifest));
    expect(variantKey(manifest, request(), allOnes(manifest))).toBe(key);
    for (const over of [{ prompt: 'a painting' }, { seed: 4 }, { steps: 5 }, { guidance: 3.5 }])
      expect(variantKey(manifest, request(over), allOnes(manifest))).not.toBe(key);
    expect(variantKey(manifest, request(), pruned())).not.toBe(key);
    expect(variantKey({ ...manifest, version: 'other' }, request(), allOnes(manifest))).not.toBe(key);
  });

  it('keeps the variant order of the request whichever variants come from the cache', async () => {
    const { runner } = fakeRunner();
    const cache = new VariantCache();
    const want = await drain(generate(runner, manifest, request({ variants: [pruned(), allOnes(manifest)] })));
    await drain(generateCached(runner, manifest, request(), cache));
    const fake = fakeRunner();
    const got = await drain(
      generateCached(fake.runner, manifest, request({ variants: [pruned(), allOnes(manifest)] }), cache),
    );
    expect(fake.batches).toEqual([2, 2, 2, 2]);
    expectSameRun(got, want);
  });

  it('runs a repeated variant once', async () => {
    const fake = fakeRunner();
    const got = await drain(
      generateCached(fake.runner, manifest, request({ variants: [pruned(), pruned()] }), new VariantCache()),
    );
    expect(fake.batches).toEqual([2, 2, 2, 2]);
    expect(firstDifference(got.result.images[0], got.result.images[1])).toBe(-1);
  });

  it('does not serve a run without attention to a request that needs it', async () => {
    const cache = new VariantCache();
    await drain(generateCached(fakeRunner().runner, manifest, request(), cache));
    const fake = fakeRunner();
    const got = await drain(generateCached(fake.runner, manifest, request({ captureAttention: true }), cache));
    expect(fake.batches).toEqual([2, 2, 2, 2]);
    expect(got.result.attention).toHaveLength(4);
    // ...and the run with attention now serves both kinds.
    const again = fakeRunner();
    await drain(generateCached(again.runner, manifest, request(), cache));
    expect(again.batches).toEqual([]);
  });

  it('hands out copies: transferring or editing an answer leaves the cache intact', async () => {
    const cache = new VariantCache();
    const options = request({ captureAttention: true });
    const first = await drain(generateCached(fakeRunner().runner, manifest, options, cache));
    const image = first.result.images[0].slice();
    const second = await drain(generateCached(fakeRunner().runner, manifest, options, cache));
    second.result.images[0].fill(9);
    second.result.attention![0][0][0].fill(9);
    second.events[0].previews[0].fill(9);
    const third = await drain(generateCached(fakeRunner().runner, manifest, options, cache));
    expect(firstDifference(third.result.images[0], image)).toBe(-1);
    expect(third.result.attention![0][0][0][0]).not.toBe(9);
    expect(third.events[0].previews[0][0]).not.toBe(9);
  });

  it('keeps nothing from a run that was stopped', async () => {
    const cache = new VariantCache();
    const controller = new AbortController();
    const gen = generateCached(fakeRunner().runner, manifest, request(), cache, controller.signal);
    await gen.next();
    controller.abort();
    await expect(drain(gen)).rejects.toThrow(/aborted/);
    expect(cache.size).toBe(0);
  });

  it('stops a replay from the cache when aborted', async () => {
    const cache = new VariantCache();
    await drain(generateCached(fakeRunner().runner, manifest, request(), cache));
    const controller = new AbortController();
    const gen = generateCached(fakeRunner().runner, manifest, request(), cache, controller.signal);
    await gen.next();
    controller.abort();
    await expect(drain(gen)).rejects.toThrow(/aborted/);
  });

  it('drops the least recently used runs beyond its byte budget', async () => {
    // One 4-step run without attention: 5 images of 3,072 floats, about 61 KB.
    const cache = new VariantCache(150_000);
    for (const seed of [1, 2]) await drain(generateCached(fakeRunner().runner, manifest, request({ seed }), cache));
    await drain(generateCached(fakeRunner().runner, manifest, request({ seed: 1 }), cache)); // seed 1 used last
    await drain(generateCached(fakeRunner().runner, manifest, request({ seed: 3 }), cache));
    expect(cache.size).toBe(2);
    expect(cache.bytes).toBeLessThanOrEqual(150_000);
    const seed1 = fakeRunner();
    await drain(generateCached(seed1.runner, manifest, request({ seed: 1 }), cache));
    expect(seed1.batches).toEqual([]);
    const seed2 = fakeRunner();
    await drain(generateCached(seed2.runner, manifest, request({ seed: 2 }), cache));
    expect(seed2.batches).toEqual([2, 2, 2, 2]);
  });
});
