/**
 * Mask presets shipped with a model (UniForget's learned masks, training/memlab/unlearn/uniforget.py;
 * the universal mask, src/node/make-presets.ts): a JSON file under the model's presets/ folder,
 * listed in manifest.presets with its size and hash.
 * Parsed here, checked against the model's mask inputs, so a stale or hand-edited preset is refused
 * with a message instead of pruning the wrong units.
 */
import { z } from 'zod';
import type { Manifest } from './manifest';
import type { PrunedUnit } from './masks';

const presetFile = z.object({
  id: z.string().regex(/^[\w.-]+$/),
  method: z.string(),
  label: z.string(),
  beta: z.number().optional(),
  /** mask input -> flat indices (layer * units + unit) of the pruned units */
  masks: z.record(z.string(), z.array(z.number().int().nonnegative())),
  fractionPruned: z.number().min(0).max(1),
  /** a universal mask: the share of its unit kind it prunes, and the kind */
  sparsity: z.number().min(0).max(1).optional(),
  unitKind: z.enum(['heads', 'neurons']).optional(),
  of: z.string(),
  steps: z.number().int().nonnegative().optional(),
  costSeconds: z.number().nonnegative().optional(),
  cpuSeconds: z.number().nonnegative().optional(),
  trainedOn: z.string().optional(),
});

export type MaskPreset = z.infer<typeof presetFile>;

/** Parses a preset file for a model; throws an Error naming the problem. */
export function parseMaskPreset(json: unknown, manifest: Manifest): MaskPreset {
  const parsed = presetFile.safeParse(json);
  if (!parsed.success) {
    throw new Error(
      `invalid mask preset: ${parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ')}`,
    );
  }
  const p = parsed.data;
  const base = manifest.variant?.of ?? manifest.id;
  if (p.of !== base) throw new Error(`preset ${p.id} was learned on ${p.of}, not on ${base}`);
  for (const [name, units] of Object.entries(p.masks)) {
    const spec = manifest.unet.masks.find((m) => m.name === name);
    if (!spec) throw new Error(`preset ${p.id} prunes "${name}", which ${manifest.id} does not have`);
    const bad = units.find((j) => j >= spec.layers * spec.units);
    if (bad !== undefined)
      throw new Error(`preset ${p.id}: unit ${bad} is outside "${name}" (${spec.layers * spec.units} units)`);
  }
  return p;
}

/** A preset's units as the pruned-unit records masks.ts and the URL codec speak. */
export function presetUnits(preset: MaskPreset, manifest: Manifest): PrunedUnit[] {
  return Object.entries(preset.masks).flatMap(([name, units]) => {
    const spec = manifest.unet.masks.find((m) => m.name === name)!;
    return units.map((j) => ({ mask: name, layer: Math.floor(j / spec.units), unit: j % spec.units }));
  });
}
