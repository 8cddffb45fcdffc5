import { csvParse } from 'd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type NodeModel, loadNodeModel } from '../../node/runner';
import { detectionStudyKey } from '../science/shared-computations';
import { memoryCache } from '../science/cache';
import type { PromptSet } from '../prompts/types';
import { JOBS, defaultRequest, resultExports, runJob } from './registry';
import { studyJson, studyRows } from './study-export';

const DIR = 'public/models/fixture-random';

describe('science jobs on chosen prompt sets', () => {
  let model: NodeModel;
  beforeAll(async () => {
    model = await loadNodeModel(DIR, { precision: 'fp32' });
  });
  afterAll(() => model.release());

  const lab = { prompt: 'a painting of zephyr', units: 'heads' as const };

  it("keeps the model's own defaults (and their cache keys) when no sets are chosen", () => {
    const m = model.manifest;
    const study = defaultRequest('study', m, lab);
    expect(study.params.promptSets).toBeUndefined();
    expect(defaultRequest('attribution', m, lab).params).not.toHaveProperty('memorized');
    expect(defaultRequest('nemo', m, lab).params).not.toHaveProperty('reference');
    // the key the evaluation shares (shared-computations.ts)
    expect(JOBS.study.cacheKey(m, study.params)).toBe(
      detectionStudyKey(m, { ...study.params.detection, neutralLimit: 8, heldOutTemplates: false }),
    );
    const ownAsSets = defaultRequest('study', m, {
      ...lab,
      promptSets: [{ name: 'x', label: 'memorized', prompts: [] }],
    });
    expect(JOBS.study.cacheKey(m, ownAsSets.params)).not.toBe(JOBS.study.cacheKey(m, study.params));
  });

  it('hands chosen sets to the study, head ablation and NeMo as plain prompt lists', () => {
    const m = model.manifest;
    const sets: PromptSet[] = [
      { name: 'wen', label: 'memorized', prompts: ['m1', 'm2', 'm3', 'm4', 'm5'].map((caption) => ({ caption })) },
      { name: 'laion', label: 'non-memorized', prompts: ['n1', 'n2', 'n3', 'n4'].map((caption) => ({ caption })) },
    ];
    const withSets = { ...lab, promptSets: sets };
    expect(defaultRequest('study', m, withSets).params.promptSets).toEqual(sets);
    const attribution = defaultRequest('attribution', m, withSets).params;
    // smoke sizes: the first 4 memorized captions, the reference half of the non-memorized ones
    expect(attribution.memorized).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(attribution.neutral).toEqual(['n1', 'n2']);
    expect(defaultRequest('nemo', m, withSets).params.reference).toEqual(['n1', 'n2']);
    // only memorized sets chosen: ablation's neutral side falls back to the model's own
    const onlyMemorized = defaultRequest('attribution', m, { ...lab, promptSets: [sets[0]] }).params;
    expect(onlyMemorized.neutral).toBeUndefined();
    expect(defaultRequest('nemo', m, { ...lab, promptSets: [sets[0]] }).params.reference).toBeUndefined();
  });

  it('runs the detection study on imported sets and exports one CSV row per prompt with its set and label', async () => {
    const m = model.manifest;
    const sets: PromptSet[] = [
      {
        name: 'wen "500", first lines',
        label: 'memorized',
        prompts: [{ caption: m.memorized[0].caption }, { caption: 'a painting of zephyr, again' }],
      },
      { name: 'laion', label: 'non-memorized', prompts: m.neutralPrompts.slice(0, 2).map((caption) => ({ caption })) },
      { name: 'pool', label: 'unlabelled', prompts: [{ caption: m.neutralPrompts[5] }] },
    ];
    const cache = memoryCache();
    const env = {
      runner: model.runner,
      manifest: m,
      cache,
      train: () => Promise.reject(new Error('the study needs no training images')),
    };
    const request = defaultRequest('study', m, { ...lab, promptSets: sets });
    const { outcome, cached } = await runJob(env, request);
    expect(cached).toBe(false);
    const study = outcome.result;
    expect(study.prompts.map((p) => p.group)).toEqual(['memorized', 'memorized', 'neutral', 'neutral', 'unlabelled']);
    expect(study.sets).toEqual([
      { name: 'wen "500", first lines', label: 'memorized', prompts: 2 },
      { name: 'laion', label: 'non-memorized', prompts: 2 },
      { name: 'pool', label: 'unlabelled', prompts: 1 },
    ]);
    expect(study.rocs.map((r) => r.roc.auc).every((a) => a >= 0 && a <= 1)).toBe(true);

    // the CSV "Export CSV" saves
    const rows = csvParse(resultExports(m, 'study', study).csv!);
    expect(rows.columns).toEqual([
      'prompt',
      'set',
      'label',
      'wen',
      'entropy',
      'bosMass',
      'seedConsistency',
      'seedConsistencyMean',
    ]);
    expect(rows.map((r) => [r.prompt, r.set, r.label])).toEqual([
      [m.memorized[0].caption, 'wen "500", first lines', 'memorized'],
      ['a painting of zephyr, again', 'wen "500", first lines', 'memorized'],
      [m.neutralPrompts[0], 'laion', 'non-memorized'],
      [m.neutralPrompts[1], 'laion', 'non-memorized'],
      [m.neutralPrompts[5], 'pool', 'unlabelled'],
    ]);
    rows.forEach((r, i) => expect(Number(r.wen)).toBe(study.scores[i].wen));
    const json = JSON.parse(studyJson(study, m));
    expect(json.model).toBe(`${m.id}@${m.version}`);
    expect(json.detection).toEqual(request.params.detection);
    expect(json.detectors.find((d: { key: string }) => d.key === 'wen').auc).toBe(study.rocs[0].roc.auc);
    expect(json.prompts).toHaveLength(5);

    // the same sets again: answered from the cache
    expect((await runJob(env, request)).cached).toBe(true);
  });

  it("names the model's own sets in the export of a default study", () => {
    const m = model.manifest;
    const study = {
      prompts: [
        { prompt: 'p', group: 'memorized' as const },
        { prompt: 'q', group: 'template-held-out' as const },
        { prompt: 'r', group: 'neutral' as const },
      ],
      scores: ['p', 'q', 'r'].map((prompt) => ({
        prompt,
        wen: 1,
        entropy: 0.5,
        bosMass: 0.2,
        seedConsistency: 0.1,
        seedConsistencyMean: 0.1,
        wenPerSeed: [1],
      })),
      rocs: [],
    };
    expect(studyRows(study, m).map((r) => [r.set, r.label])).toEqual([
      [`${m.id}: memorized captions`, 'memorized'],
      ['held-out template captions (kept out of the ROC)', 'unlabelled'],
      [`${m.id}: neutral prompts`, 'non-memorized'],
    ]);
  });
});
