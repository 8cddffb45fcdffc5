import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../core/manifest';
import { parseMaskPreset } from '../core/presets';
import { type PresetEntry, universalPreset, withPresetEntry } from './make-presets';

const read = (id: string) => readFileSync(`public/models/${id}/manifest.json`, 'utf8');
const entry = (over: Partial<PresetEntry> = {}): PresetEntry => ({
  id: 'universal-heads-40',
  method: 'universal',
  fractionPruned: 0.00328,
  sparsity: 0.4,
  unitKind: 'heads',
  path: 'presets/universal-heads-40.json',
  bytes: 512,
  sha256: 'a'.repeat(64),
  ...over,
});

describe('the manifest entry of a shipped preset', () => {
  it('is added to the presets list, leaving every other byte of the manifest as the recipe wrote it', () => {
    const text = read('memlab-organism');
    const out = withPresetEntry(text, entry());
    const head = text.slice(0, text.lastIndexOf('\n "presets": ['));
    expect(out.startsWith(head)).toBe(true);
    expect(out).toContain('"guidance": 4.0'); // a float keeps its spelling
    const parsed = JSON.parse(out);
    const before = JSON.parse(text);
    expect(parsed.presets.slice(0, -1)).toEqual(before.presets.filter((e: PresetEntry) => e.id !== entry().id));
    expect(parsed.presets.at(-1)).toEqual(entry());
    const manifest = parseManifest(parsed);
    expect(manifest.ok).toBe(true);
  });

  it('replaces the entry of the same id, so running the recipe again changes only what changed', () => {
    const once = withPresetEntry(read('memlab-organism'), entry());
    const twice = withPresetEntry(once, entry({ bytes: 600 }));
    const presets = JSON.parse(twice).presets as PresetEntry[];
    expect(presets.filter((e) => e.id === 'universal-heads-40')).toEqual([entry({ bytes: 600 })]);
    expect(withPresetEntry(twice, entry({ bytes: 600 }))).toBe(twice);
  });

  it('starts a presets list in a manifest without one', () => {
    const text = read('fixture-random-variant');
    const out = withPresetEntry(text, entry());
    expect(JSON.parse(out)).toEqual({ ...JSON.parse(text), presets: [entry()] });
  });
});

describe('the universal preset file', () => {
  const parsed = parseManifest(JSON.parse(read('memlab-organism')));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  const manifest = parsed.manifest;

  it('names its units in the head mask only and reads back as the lab reads presets', () => {
    const preset = universalPreset(manifest, [4, 5, 6, 7, 9, 12, 16, 17], 'cross_attn_head_mask', 0.4, 'heads', {
      costSeconds: 120.04,
      cpuSeconds: 230.01,
      flagged: 45,
    });
    const back = parseMaskPreset(JSON.parse(JSON.stringify(preset)), manifest);
    expect(back.id).toBe('universal-heads-40');
    expect(back.masks.cross_attn_head_mask).toEqual([4, 5, 6, 7, 9, 12, 16, 17]);
    expect(Object.values(back.masks).flat()).toHaveLength(8);
    expect(back.sparsity).toBe(0.4);
    expect(back.unitKind).toBe('heads');
    const all = manifest.unet.masks.reduce((n, m) => n + m.layers * m.units, 0);
    expect(back.fractionPruned).toBeCloseTo(8 / all, 5);
    expect(back.of).toBe('memlab-organism');
  });
});
