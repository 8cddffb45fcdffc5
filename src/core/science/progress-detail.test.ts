import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeModel, loadNodeModel } from '../../node/runner';
import { encodePrompts, promptsInWords, sampleRows } from './batch';
import type { Progress } from './context';
import { ablationAttribution } from './localize';
import { allOnes } from '../masks';

describe('progress says what a long job is doing', () => {
  let model: NodeModel;
  beforeAll(async () => {
    model = await loadNodeModel('public/models/fixture-random', { precision: 'fp32' });
  });
  afterAll(() => model?.release());

  it('names the prompts of the model call in progress', async () => {
    const m = model.manifest;
    const prompts = ['a painting of zephyr', 'a painting of ember', m.neutralPrompts[0]];
    const emb = await encodePrompts(model.runner, m, prompts);
    const reports: Progress[] = [];
    await sampleRows(
      model.runner,
      m,
      emb,
      [allOnes(m)],
      prompts.map((_, p) => ({ prompt: p, seed: 1, maskSet: 0 })),
      { steps: 2, guidance: 4, maxRows: 2, stage: 'detect' },
      { onProgress: (p) => reports.push(p) },
    );
    expect(reports.map((r) => [r.done, r.detail])).toEqual([
      [1, '“a painting of zephyr” and 1 more prompt'],
      [2, '“a painting of zephyr” and 1 more prompt'],
      [3, `“${m.neutralPrompts[0]}”`],
      [4, `“${m.neutralPrompts[0]}”`],
    ]);
  });

  it("names the head an ablation masks, in the grid's words", async () => {
    const m = model.manifest;
    const reports: Progress[] = [];
    await ablationAttribution(
      model.runner,
      m,
      {
        units: 'heads',
        memorized: ['a painting of zephyr'],
        neutral: m.neutralPrompts.slice(0, 1),
        seeds: [1],
        steps: 2,
        k: 1,
        guidance: 4,
        maxRows: 2,
      },
      { onProgress: (p) => reports.push(p) },
    );
    expect(reports[0].detail).toBe('nothing masked (the reference), on “a painting of zephyr” and 1 more prompt');
    const layer = m.unet.layers[1].name;
    // rows are mask-major: the 7th mask set masks head 2 of the second layer (flat unit 6)
    expect(reports[7].detail).toBe(
      `cross-attention head 2 of layer ${layer} masked, on “a painting of zephyr” and 1 more prompt`,
    );
    expect(reports.every((r) => r.stage === 'ablate heads')).toBe(true);
  });

  it('counts the other prompts without repeating a prompt the seeds share', () => {
    expect(promptsInWords(['a', 'a', 'b', 'c'])).toBe('“a” and 2 more prompts');
    expect(promptsInWords([])).toBe('');
  });
});
