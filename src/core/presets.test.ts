import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from './manifest';
import { parseMaskPreset, presetUnits } from './presets';

async function fixture(): Promise<Manifest> {
  const parsed = parseManifest(JSON.parse(await readFile('public/models/fixture-random/manifest.json', 'utf8')));
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.manifest;
}

const preset = (m: Manifest, masks: Record<string, number[]>) => ({
  id: 'uniforget-beta2',
  method: 'uniforget',
  label: 'UniForget, beta 2',
  beta: 2,
  masks,
  fractionPruned: 0.1,
  of: m.id,
});

describe('mask presets', () => {
  it('parses a preset and converts it to pruned units', async () => {
    const m = await fixture();
    const p = parseMaskPreset(preset(m, { cross_attn_head_mask: [0, 5], ff_neuron_mask: [3] }), m);
    expect(p.beta).toBe(2);
    const heads = m.unet.masks.find((s) => s.name === 'cross_attn_head_mask')!;
    expect(presetUnits(p, m)).toEqual([
      { mask: 'cross_attn_head_mask', layer: 0, unit: 0 },
      { mask: 'cross_attn_head_mask', layer: Math.floor(5 / heads.units), unit: 5 % heads.units },
      { mask: 'ff_neuron_mask', layer: 0, unit: 3 },
    ]);
  });

  it('accepts a base preset on its variant and refuses one learned on another model, unknown inputs, out-of-range units, bad JSON', async () => {
    const m = await fixture();
    const variant = { ...m, id: 'v', variant: { of: m.id, method: 'fmn', forgotten: [], costSeconds: 1, steps: 1 } };
    expect(parseMaskPreset(preset(m, {}), variant).id).toBe('uniforget-beta2');
    expect(() => parseMaskPreset({ ...preset(m, {}), of: 'elsewhere' }, m)).toThrow(/learned on elsewhere/);
    expect(() => parseMaskPreset(preset(m, { nope: [1] }), m)).toThrow(/does not have/);
    expect(() => parseMaskPreset(preset(m, { cross_attn_head_mask: [10_000] }), m)).toThrow(/outside/);
    expect(() => parseMaskPreset({ id: 'x' }, m)).toThrow(/invalid mask preset/);
    expect(() => parseMaskPreset(preset(m, { cross_attn_head_mask: [-1] }), m)).toThrow(/invalid mask preset/);
  });
});
