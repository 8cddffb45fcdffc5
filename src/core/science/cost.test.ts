import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeModel, loadNodeModel } from '../../node/runner';
import { allOnes } from '../masks';
import { encodePrompts, sampleRows } from './batch';
import { estimateJobCost, formatDuration, measureStepTime, rowsPerCall, upperBoundFromGeneration } from './cost';

describe('estimateJobCost', () => {
  it("counts Wen et al.'s SD v1.4 study as a million UNet evaluations", () => {
    const c = estimateJobCost(
      { prompts: 2500, seeds: 4, steps: 50, guided: true, maxRows: 32 },
      { msPerEvaluation: 40, batch: 64 },
    );
    expect(c.trajectories).toBe(10_000);
    expect(c.unetEvaluations).toBe(1_000_000);
    expect(c.unetCalls).toBe(313 * 50);
    expect(c.rowsPerCall).toBe(64);
    expect(c.seconds).toBe(40_000);
    expect(c.summary).toBe(
      '2,500 prompts x 4 seeds x 50 steps x 2 (guidance) = 1,000,000 UNet evaluations, about 11.1 h at 40 ms each',
    );
  });

  it('multiplies by conditions, halves without guidance and batches small jobs in one call', () => {
    const c = estimateJobCost(
      { prompts: 3, seeds: 2, steps: 10, guided: false, conditions: 5 },
      { msPerEvaluation: 0.5, batch: 30 },
    );
    expect(c).toMatchObject({ trajectories: 30, unetEvaluations: 300, unetCalls: 10, rowsPerCall: 30, seconds: 0.15 });
    expect(c.summary).toBe(
      '3 prompts x 2 seeds x 5 conditions x 10 steps = 300 UNet evaluations, about 0.1 s at 0.50 ms each',
    );
    expect(rowsPerCall({ prompts: 1, seeds: 1, steps: 1, guided: true })).toBe(2);
    expect(
      estimateJobCost({ prompts: 0, seeds: 4, steps: 5, guided: true }, { msPerEvaluation: 1, batch: 2 }).seconds,
    ).toBe(0);
  });

  it('refuses shapes that are not whole numbers and step times that are not numbers', () => {
    expect(() =>
      estimateJobCost({ prompts: 1.5, seeds: 1, steps: 1, guided: true }, { msPerEvaluation: 1, batch: 2 }),
    ).toThrow(/prompts must be a whole number/);
    expect(() =>
      estimateJobCost({ prompts: 1, seeds: 1, steps: 1, guided: true }, { msPerEvaluation: Number.NaN, batch: 2 }),
    ).toThrow(/step time/);
  });

  it('states durations in the unit a reader wants', () => {
    expect([0.42, 12.4, 210, 7560, 3 * 86400].map(formatDuration)).toEqual([
      '0.4 s',
      '12 s',
      '3.5 min',
      '2.1 h',
      '3.0 days',
    ]);
  });
});

describe('the estimate against a measured job on the organism (onnxruntime-node)', () => {
  let model: NodeModel;
  beforeAll(async () => {
    model = await loadNodeModel('public/models/memlab-organism');
  }, 60_000);
  afterAll(() => model?.release());

  it('is within 2x of the time the job takes', async () => {
    const m = model.manifest;
    const prompts = [...m.memorized.slice(0, 3).map((e) => e.caption), ...m.neutralPrompts.slice(0, 3)];
    const seeds = [1, 2];
    const shape = { prompts: prompts.length, seeds: seeds.length, steps: 10, guided: true, maxRows: 32 };
    const step = await measureStepTime(model.runner, m, rowsPerCall(shape));
    const estimate = estimateJobCost(shape, step);

    const began = performance.now();
    const embeddings = await encodePrompts(model.runner, m, prompts);
    const rows = prompts.flatMap((_, p) => seeds.map((seed) => ({ prompt: p, seed, maskSet: 0 })));
    const run = await sampleRows(model.runner, m, embeddings, [allOnes(m)], rows, {
      steps: shape.steps,
      guidance: m.defaults.guidance,
      maxRows: shape.maxRows,
      keepImages: true,
    });
    const seconds = (performance.now() - began) / 1000;

    expect(run.unetCalls).toBe(estimate.unetCalls);
    expect(run.unetRows).toBe(estimate.unetEvaluations);
    const ratio = seconds / estimate.seconds;
    console.log(`cost estimate: ${estimate.summary}; measured ${seconds.toFixed(3)} s (x${ratio.toFixed(2)})`);
    expect(ratio).toBeGreaterThan(0.5);
    expect(ratio).toBeLessThan(2);
  }, 300_000);

  it('from a generation step time, bounds a batched job from above', async () => {
    const m = model.manifest;
    const shape = { prompts: 16, seeds: 4, steps: 3, guided: true, maxRows: 32 };
    // a generation: one guided image per call (2 rows); the job: 32 trajectories per call (64 rows)
    const generation = await measureStepTime(model.runner, m, 2, 5);
    const batched = await measureStepTime(model.runner, m, rowsPerCall(shape), 5);
    const bound = upperBoundFromGeneration(shape, generation.msPerEvaluation * 2);
    const estimate = estimateJobCost(shape, batched);
    console.log(
      `generation-step bound ${bound.seconds.toFixed(3)} s vs batched estimate ${estimate.seconds.toFixed(3)} s (x${(bound.seconds / estimate.seconds).toFixed(2)})`,
    );
    expect(bound.unetEvaluations).toBe(estimate.unetEvaluations);
    expect(bound.seconds).toBeGreaterThanOrEqual(estimate.seconds);
  }, 300_000);
});
