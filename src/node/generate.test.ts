import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chwToRgb } from '../core/image';
import { type MaskSet, allOnes, maskSetFromPruned } from '../core/masks';
import {
  type GenerateRequest,
  type GenerateResult,
  type ModelRunner,
  type StepEvent,
  generate,
} from '../core/pipeline';
import { type NodeModel, loadNodeModel } from './runner';

const DIR = 'public/models/fixture-random';

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

async function run(model: NodeModel, over: Partial<GenerateRequest> = {}, signal?: AbortSignal) {
  const gen = generate(
    model.runner,
    model.manifest,
    {
      prompt: 'a painting of zephyr',
      seed: 7,
      steps: 10,
      guidance: 4,
      variants: [allOnes(model.manifest)],
      captureAttention: false,
      ...over,
    },
    signal,
  );
  const events: StepEvent[] = [];
  for (;;) {
    const next = await gen.next();
    if (next.done) return { events, result: next.value as GenerateResult };
    events.push(next.value);
  }
}

describe('the core pipeline on the fixture model (onnxruntime-node)', () => {
  let model: NodeModel;
  let pruned: MaskSet;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'fp32' });
    pruned = maskSetFromPruned(model.manifest, [
      { mask: 'cross_attn_head_mask', layer: 0, unit: 0 },
      { mask: 'cross_attn_head_mask', layer: 1, unit: 2 },
    ]);
  });
  afterAll(() => model.release());

  it('gives identical pixels for the same seed and different ones for another seed', async () => {
    const pixels = async (seed: number) => chwToRgb((await run(model, { seed })).result.images[0], 32, 32);
    const first = await pixels(7);
    expect(await pixels(7)).toEqual(first);
    const other = await pixels(8);
    let differing = 0;
    for (let i = 0; i < first.length; i++) if (first[i] !== other[i]) differing++;
    expect(differing).toBeGreaterThan(first.length / 2);
  });

  it('generates [baseline, pruned] in one batch exactly as each variant alone (within 1e-5)', async () => {
    const together = await run(model, { variants: [allOnes(model.manifest), pruned], captureAttention: true });
    const baseline = await run(model, { captureAttention: true });
    const prunedAlone = await run(model, { variants: [pruned], captureAttention: true });
    expect(maxAbsDiff(together.result.images[0], baseline.result.images[0])).toBeLessThan(1e-5);
    expect(maxAbsDiff(together.result.images[1], prunedAlone.result.images[0])).toBeLessThan(1e-5);
    // and pruning did change the image, so the comparison above is not vacuous
    expect(maxAbsDiff(together.result.images[1], together.result.images[0])).toBeGreaterThan(1e-2);
    together.result.noiseGaps.forEach((gaps, step) => {
      expect(gaps[0]).toBeCloseTo(baseline.result.noiseGaps[step][0], 4);
      expect(gaps[1]).toBeCloseTo(prunedAlone.result.noiseGaps[step][0], 4);
    });
    const last = together.result.attention!.at(-1)!;
    expect(maxAbsDiff(last[1][1], prunedAlone.result.attention!.at(-1)![1][0])).toBeLessThan(1e-5);
  });

  it('ends on the last preview: the final image is the last predicted x0, inside [-1, 1]', async () => {
    const { events, result } = await run(model);
    expect(events.length).toBe(10);
    expect(result.images[0]).toEqual(events[9].previews[0]);
    expect(result.images[0].every((v) => v >= -1 && v <= 1)).toBe(true);
    expect(result.timings.stepMs.length).toBe(10);
  });

  it('stops at a step boundary when aborted, without running further UNet steps', async () => {
    const controller = new AbortController();
    let calls = 0;
    const counting: ModelRunner = {
      encodeText: (ids) => model.runner.encodeText(ids),
      runUNet: (feeds, want) => {
        calls++;
        return model.runner.runUNet(feeds, want);
      },
    };
    const request = { prompt: 'a painting of zephyr', seed: 1, steps: 25, guidance: 4, captureAttention: false };
    const gen = generate(
      counting,
      model.manifest,
      { ...request, variants: [allOnes(model.manifest)] },
      controller.signal,
    );
    for (let i = 0; i < 3; i++) await gen.next();
    controller.abort();
    const error = await gen.next().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DOMException);
    expect((error as DOMException).name).toBe('AbortError');
    expect(calls).toBe(3);
  });

  it('reports unknown words and still produces an image', async () => {
    const { result } = await run(model, { prompt: 'a painting of a dragon', steps: 2 });
    expect(result.tokens.unknownWords).toEqual(['dragon']);
    expect(result.images[0].length).toBe(3 * 32 * 32);
  });
});

describe('onnxruntime-web (WASM, in Node) against onnxruntime-node', () => {
  // Measured: max |difference| 4e-5 in [-1, 1] after 25 guided steps (fp32 and int8), identical 8-bit pixels.
  // Tolerance: 1e-3 in float (an eighth of one 8-bit level), at most 1 level per pixel.
  for (const precision of ['fp32', 'int8'] as const) {
    it(`makes the same ${precision} image within 1e-3`, async () => {
      const [node, wasm] = await Promise.all([
        loadNodeModel(DIR, { precision, backend: 'node', threads: 1 }),
        loadNodeModel(DIR, { precision, backend: 'wasm', threads: 1 }),
      ]);
      try {
        const variants = [allOnes(node.manifest)];
        const a = (await run(node, { steps: 25, variants })).result.images[0];
        const b = (await run(wasm, { steps: 25, variants })).result.images[0];
        expect(maxAbsDiff(a, b)).toBeLessThan(1e-3);
        expect(maxAbsDiff(chwToRgb(a, 32, 32), chwToRgb(b, 32, 32))).toBeLessThanOrEqual(1);
      } finally {
        await Promise.all([node.release(), wasm.release()]);
      }
    });
  }
});
