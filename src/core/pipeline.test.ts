import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest, organism } from './manifest';
import { allOnes, maskSetFromPruned } from './masks';
import {
  type GenerateRequest,
  type GenerateResult,
  type ModelRunner,
  type StepEvent,
  type UNetFeeds,
  generate,
} from './pipeline';
import { alphasCumprod, ddimTimesteps } from './schedule';

const parsed = parseManifest(JSON.parse(readFileSync('public/models/fixture-random/manifest.json', 'utf8')));
if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
const manifest = organism(parsed.manifest);
const PIXELS = 3 * 32 * 32;
const T = manifest.text.maxTokens;
const W = manifest.text.width;
const alphas = alphasCumprod(manifest.schedule);

/** A clean target image in [-1, 1] that the oracle runner "knows". */
const target = Float32Array.from({ length: PIXELS }, (_, i) => Math.sin(i * 0.37) * 0.9);

/**
 * A fake model: predicts exactly the noise that separates the sample from `target` (the oracle
 * epsilon), plus `condOffset` on conditional rows, scaled by each row's first cross-attention head
 * mask scale. Embeddings encode the token ids so rows can be told apart; attention rows hold their
 * row index. Records every feed it sees.
 */
function oracleRunner(condOffset = 0) {
  const seen: { feeds: UNetFeeds; sample: Float32Array; timestep: Float32Array }[] = [];
  const runner: ModelRunner = {
    async encodeText(ids) {
      const rows = ids as number[][];
      const out = new Float32Array(rows.length * T * W);
      rows.forEach((row, b) => row.forEach((id, t) => out.fill(id, (b * T + t) * W, (b * T + t + 1) * W)));
      return out;
    },
    async runUNet(feeds, want) {
      seen.push({ feeds, sample: feeds.sample.slice(), timestep: feeds.timestep.slice() });
      const noise = new Float32Array(feeds.batch * PIXELS);
      const heads = feeds.masks.cross_attn_head_mask;
      const headRow = heads.length / feeds.batch;
      for (let b = 0; b < feeds.batch; b++) {
        const a = alphas[feeds.timestep[b]];
        const offset = b % 2 === 1 ? condOffset * heads[b * headRow] : 0;
        for (let i = 0; i < PIXELS; i++) {
          const x = feeds.sample[b * PIXELS + i];
          noise[b * PIXELS + i] = (x - Math.sqrt(a) * target[i]) / Math.sqrt(1 - a) + offset;
        }
      }
      if (!want.attention) return { noise };
      const crossAttention = manifest.unet.layers.map((l) => {
        const row = l.heads * l.resolution * l.resolution * T;
        const probs = new Float32Array(feeds.batch * row);
        for (let b = 0; b < feeds.batch; b++) probs.fill(b, b * row, (b + 1) * row);
        return probs;
      });
      return { noise, crossAttention };
    },
  };
  return { runner, seen };
}

async function drain(gen: AsyncGenerator<StepEvent, GenerateResult, void>) {
  const events: StepEvent[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) return { events, result: next.value };
    events.push(next.value);
  }
}

const request = (over: Partial<GenerateRequest> = {}): GenerateRequest => ({
  prompt: 'a painting of zephyr',
  seed: 7,
  steps: 10,
  guidance: 4,
  variants: [allOnes(manifest)],
  captureAttention: false,
  ...over,
});

describe('generate', () => {
  it('recovers the clean image an exact noise predictor implies (DDIM with clipping is consistent)', async () => {
    const { runner } = oracleRunner();
    const { events, result } = await drain(generate(runner, manifest, request()));
    expect(events.map((e) => e.timestep)).toEqual(ddimTimesteps(10, 1000));
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    let worst = 0;
    for (let i = 0; i < PIXELS; i++) worst = Math.max(worst, Math.abs(result.images[0][i] - target[i]));
    expect(worst).toBeLessThan(1e-5);
    for (const e of events) expect(e.noiseGap).toEqual([0]);
  });

  it('runs variants in one batch as [uncond, cond] pairs with their own masks and the same start', async () => {
    const { runner, seen } = oracleRunner();
    const pruned = maskSetFromPruned(manifest, [{ mask: 'cross_attn_head_mask', layer: 0, unit: 0 }]);
    await drain(generate(runner, manifest, request({ steps: 2, variants: [allOnes(manifest), pruned] })));
    expect(seen.length).toBe(2);
    const { feeds, sample, timestep } = seen[0];
    expect(feeds.batch).toBe(4);
    expect(Array.from(timestep)).toEqual([999, 999, 999, 999]);
    for (let b = 1; b < 4; b++)
      expect(sample.subarray(b * PIXELS, (b + 1) * PIXELS)).toEqual(sample.subarray(0, PIXELS));
    // context rows: uncond embeds the empty prompt (<bos> <eos>), cond the prompt (<bos> a ...)
    const tokenAt = (b: number, t: number) => feeds.context[(b * T + t) * W];
    expect([0, 1, 2, 3].map((b) => tokenAt(b, 1))).toEqual([2, 4, 2, 4]);
    const heads = feeds.masks.cross_attn_head_mask;
    const headRow = heads.length / 4;
    expect([0, 1, 2, 3].map((b) => heads[b * headRow])).toEqual([1, 1, 0, 0]);
  });

  it('reports the noise gap per variant, and guidance moves the image along it', async () => {
    const pruned = maskSetFromPruned(manifest, [{ mask: 'cross_attn_head_mask', layer: 0, unit: 0 }]);
    const { runner } = oracleRunner(0.01);
    const { events, result } = await drain(
      generate(runner, manifest, request({ variants: [allOnes(manifest), pruned] })),
    );
    for (const e of events) {
      expect(e.noiseGap[0]).toBeCloseTo(0.01 * Math.sqrt(PIXELS), 4);
      expect(e.noiseGap[1]).toBe(0);
    }
    expect(result.noiseGaps).toEqual(events.map((e) => e.noiseGap));
    expect(result.images[1]).not.toEqual(result.images[0]);
  });

  it('returns each variant conditional attention rows when asked', async () => {
    const { runner } = oracleRunner();
    const variants = [allOnes(manifest), allOnes(manifest)];
    const { events, result } = await drain(
      generate(runner, manifest, request({ steps: 3, variants, captureAttention: true })),
    );
    expect(result.attention?.length).toBe(3);
    const first = events[0].attention!;
    expect(first.length).toBe(manifest.unet.layers.length);
    const l0 = manifest.unet.layers[0];
    expect(first[0][0].length).toBe(l0.heads * l0.resolution ** 2 * T);
    expect([first[0][0][0], first[0][1][0]]).toEqual([1, 3]);
    expect(first[4][1].every((v) => v === 3)).toBe(true);
    const { result: plain } = await drain(generate(oracleRunner().runner, manifest, request({ steps: 3 })));
    expect(plain.attention).toBeUndefined();
  });

  it('is deterministic in the seed', async () => {
    const run = async (seed: number) => {
      const { runner, seen } = oracleRunner();
      await drain(generate(runner, manifest, request({ seed, steps: 1 })));
      return seen[0].sample;
    };
    expect(await run(3)).toEqual(await run(3));
    expect(await run(3)).not.toEqual(await run(4));
  });

  it('stops at the next step boundary with an AbortError once aborted', async () => {
    const { runner, seen } = oracleRunner();
    const controller = new AbortController();
    const gen = generate(runner, manifest, request(), controller.signal);
    await gen.next();
    await gen.next();
    controller.abort();
    await expect(gen.next()).rejects.toMatchObject({
      name: 'AbortError',
      message: expect.stringContaining('step 3 of 10'),
    });
    expect(seen.length).toBe(2);
  });

  it('reports unknown words and still generates', async () => {
    const { result, events } = await drain(
      generate(oracleRunner().runner, manifest, request({ prompt: 'a painting of dragon', steps: 2 })),
    );
    expect(result.tokens.unknownWords).toEqual(['dragon']);
    expect(events.length).toBe(2);
  });

  it('refuses requests without variants, with bad step counts or mis-shaped masks', async () => {
    const runner = oracleRunner().runner;
    await expect(drain(generate(runner, manifest, request({ variants: [] })))).rejects.toThrow(/at least one/);
    await expect(drain(generate(runner, manifest, request({ steps: 0 })))).rejects.toThrow(RangeError);
    const bad = { ...allOnes(manifest), ff_neuron_mask: new Float32Array(3) };
    await expect(drain(generate(runner, manifest, request({ variants: [bad] })))).rejects.toThrow(/ff_neuron_mask/);
  });
});
