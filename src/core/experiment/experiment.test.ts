import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest, organism } from '../manifest';
import {
  EXPERIMENT_FIELDS,
  SCALAR_NAMES,
  defaultExperiment,
  experimentProblems,
  normalizeUnits,
  promptProblem,
  prunedCount,
} from './experiment';

function fixtureManifest(): Manifest {
  const json = JSON.parse(readFileSync('public/models/fixture-random/manifest.json', 'utf8'));
  const r = parseManifest(json);
  if (!r.ok) throw new Error(r.problems.join('\n'));
  return r.manifest;
}

describe('experiment table and defaults', () => {
  const manifest = fixtureManifest();

  it('declares every scalar once with a distinct URL key', () => {
    const keys = SCALAR_NAMES.map((n) => EXPERIMENT_FIELDS[n].key);
    expect(new Set(keys).size).toBe(keys.length);
    expect(SCALAR_NAMES).toEqual(['prompt', 'seed', 'steps', 'guidance', 'scheduler']);
  });

  it('builds a valid default from the manifest: first memorized caption, manifest defaults, nothing pruned', () => {
    const e = defaultExperiment(manifest);
    expect(e).toEqual({
      model: { id: 'fixture-random', version: '1.0.0' },
      prompt: 'a painting of zephyr',
      seed: 7,
      steps: 25,
      guidance: 4,
      scheduler: 'ddim',
      masks: { self_attn_head_mask: [], cross_attn_head_mask: [], cross_attn_value_mask: [], ff_neuron_mask: [] },
    });
    expect(experimentProblems(e, manifest)).toEqual([]);
  });

  it('clamps manifest defaults that fall outside the table bounds', () => {
    const odd = { ...manifest, defaults: { steps: 5000, guidance: -3, seed: -1 }, memorized: [], neutralPrompts: [] };
    const e = defaultExperiment(odd);
    expect(e.steps).toBe(1000);
    expect(e.guidance).toBe(0);
    expect(e.seed).toBe(0);
    expect(e.prompt).toBe('');
    expect(experimentProblems(e, odd)).toEqual([]);
  });

  it('reports each kind of invalid experiment', () => {
    const base = defaultExperiment(manifest);
    const problems = (patch: object) => experimentProblems({ ...base, ...patch }, manifest);
    expect(problems({ seed: 1.5 })).toEqual(['seed must be a whole number']);
    expect(problems({ seed: -1 })).toEqual(['seed must be between 0 and 4294967295']);
    expect(problems({ steps: 0 })).toEqual(['steps must be between 1 and 1000']);
    expect(problems({ guidance: Number.NaN })).toEqual(['guidance must be a number']);
    const shortSchedule = { ...manifest, schedule: { ...organism(manifest).schedule, trainSteps: 50 } };
    expect(experimentProblems({ ...base, steps: 60 }, shortSchedule)).toEqual([
      "steps must be at most the model's 50 training steps",
    ]);
    expect(problems({ scheduler: 'euler' })).toEqual(['scheduler must be one of ddim']);
    expect(problems({ prompt: 'x'.repeat(201) })).toEqual(['the prompt is longer than 200 characters']);
    expect(problems({ model: { id: 'other', version: '1.0.0' } })).toEqual([
      'the experiment is for a different model than the one loaded',
    ]);
    expect(problems({ masks: { ...base.masks, cross_attn_head_mask: [3, 2] } })).toEqual([
      'mask cross_attn_head_mask must list increasing unit indices below 20',
    ]);
    expect(problems({ masks: { ...base.masks, cross_attn_head_mask: [20] } })).toHaveLength(1);
    expect(problems({ masks: { ...base.masks, extra: [] } })).toEqual(['a mask is not an input of this model']);
    const { ff_neuron_mask: _dropped, ...fewer } = base.masks;
    expect(problems({ masks: fewer })).toEqual(['mask ff_neuron_mask is missing']);
  });

  it('refuses prompts that would inject special tokens, control characters or bidi overrides', () => {
    expect(promptProblem('a painting of zephyr')).toBeNull();
    expect(promptProblem('un café, 猫 🎨 & 100% = fine?')).toBeNull();
    expect(promptProblem('a <pad> b')).toMatch(/angle brackets/);
    expect(promptProblem('line\nbreak')).toMatch(/control/);
    expect(promptProblem('abc\u202edcba')).toMatch(/control/);
    expect(promptProblem('broken \ud83c')).toMatch(/broken/);
  });

  it('normalizes unit sets and counts pruned units', () => {
    expect(normalizeUnits([5, 1, 5, 3])).toEqual([1, 3, 5]);
    expect(prunedCount({ a: [1, 2], b: [], c: [0] })).toBe(3);
  });
});
