import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allOnes, maskSetFromPruned } from '../masks';
import { type GenerateResult, generate } from '../pipeline';
import { type NodeModel, loadNodeModel } from '../../node/runner';
import { encodePrompts, sampleRows, unetCallsFor } from './batch';
import type { Progress } from './context';

const DIR = 'public/models/fixture-random';

async function generateAlone(
  model: NodeModel,
  prompt: string,
  seed: number,
  variant = allOnes(model.manifest),
): Promise<GenerateResult> {
  const gen = generate(model.runner, model.manifest, {
    prompt,
    seed,
    steps: 4,
    guidance: 4,
    variants: [variant],
    captureAttention: true,
  });
  for (;;) {
    const next = await gen.next();
    if (next.done) return next.value;
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('sampleRows: many prompt x seed x mask rows per UNet call (fixture model)', () => {
  let model: NodeModel;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'fp32' });
  });
  afterAll(() => model.release());

  it('gives every row exactly what generate() gives for that prompt, seed and mask (within 1e-5), across chunks', async () => {
    const m = model.manifest;
    const prompts = ['a painting of zephyr', 'a small red circle at the left on a brown background'];
    const pruned = maskSetFromPruned(m, [{ mask: 'cross_attn_head_mask', layer: 1, unit: 2 }]);
    const emb = await encodePrompts(model.runner, m, prompts);
    const rows = [
      { prompt: 0, seed: 3, maskSet: 0 },
      { prompt: 1, seed: 5, maskSet: 1 },
      { prompt: 0, seed: 5, maskSet: 1 },
    ];
    const attention: Float32Array[][][] = rows.map(() => []);
    const progress: Progress[] = [];
    const out = await sampleRows(
      model.runner,
      m,
      emb,
      [allOnes(m), pruned],
      rows,
      {
        steps: 4,
        guidance: 4,
        keepImages: true,
        keepFirstDifference: true,
        maxRows: 2,
        onAttention: (r, _s, layers) => attention[r].push(layers.map((l) => l.slice())),
      },
      { onProgress: (p) => progress.push(p) },
    );
    expect(out.unetCalls).toBe(unetCallsFor(3, { steps: 4, maxRows: 2 }));
    expect(progress.at(-1)).toMatchObject({ stage: 'sample', done: 8, total: 8 });
    for (const [i, r] of rows.entries()) {
      const alone = await generateAlone(model, prompts[r.prompt], r.seed, r.maskSet === 0 ? allOnes(m) : pruned);
      expect(maxAbsDiff(out.images![i], alone.images[0])).toBeLessThan(1e-5);
      alone.noiseGaps.forEach((g, s) => expect(out.gaps[i][s]).toBeCloseTo(g[0], 4));
      expect(maxAbsDiff(attention[i][2][3], alone.attention![2][3][0])).toBeLessThan(1e-5);
    }
    // the first difference is eps_c - eps_u of step 1, whose norm is the first gap
    const d = out.firstDifferences![1];
    expect(Math.hypot(...d)).toBeCloseTo(out.gaps[1][0], 3);
  });

  it('stops after the first k steps when asked, and aborts between UNet calls', async () => {
    const m = model.manifest;
    const emb = await encodePrompts(model.runner, m, ['a painting of ember']);
    const rows = [{ prompt: 0, seed: 1, maskSet: 0 }];
    const short = await sampleRows(model.runner, m, emb, [allOnes(m)], rows, { steps: 10, guidance: 4, stopAfter: 2 });
    expect(short.gaps[0].length).toBe(2);
    expect(short.unetCalls).toBe(2);
    const controller = new AbortController();
    const run = sampleRows(
      model.runner,
      m,
      emb,
      [allOnes(m)],
      rows,
      { steps: 10, guidance: 4 },
      {
        signal: controller.signal,
        onProgress: (p) => p.done === 3 && controller.abort(),
      },
    );
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('refuses rows that point outside the prompts or mask sets', async () => {
    const m = model.manifest;
    const emb = await encodePrompts(model.runner, m, ['a painting of ember']);
    await expect(
      sampleRows(model.runner, m, emb, [allOnes(m)], [{ prompt: 1, seed: 1, maskSet: 0 }], { steps: 2, guidance: 4 }),
    ).rejects.toThrow(/prompt 1/);
    await expect(
      sampleRows(model.runner, m, emb, [allOnes(m)], [{ prompt: 0, seed: 1, maskSet: 2 }], { steps: 2, guidance: 4 }),
    ).rejects.toThrow(/mask set 2/);
  });
});
