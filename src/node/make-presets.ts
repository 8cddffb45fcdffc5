/**
 * `npm run model:presets [-- --model public/models/memlab-organism]`: the universal mask shipped
 * with the model, so the universal-mask preset works at once instead of after minutes of "Find
 * universal mask". It is made by the recipe the claims tests measure (claims-options.ts): the
 * universal scores of their evaluation (cross-attention heads scored by ablation, flagged by the
 * noise-gap detector, no memorized labels), pruned at the lab's default sparsity (40% of heads).
 * Writes presets/universal-heads-40.json beside the manifest and its `presets` entry (size and
 * sha256) into manifest.json; the rest of the manifest stays byte for byte as it was.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { shippedUniversalEntry } from '../core/jobs/effects';
import type { Manifest } from '../core/manifest';
import { type MaskPreset, parseMaskPreset } from '../core/presets';
import { progressPrinter } from './eval';
import { defaultSparsity, universalScores, universalSpec, universalUnits } from '../core/science/universal';
import { claimsUniversalOptions } from './claims-options';
import { type Command, runIfMain } from './command';
import { parseOptions } from './options';
import { loadNodeModel, readManifest, readModelFile } from './runner';

export const PRESETS_USAGE = `usage: npm run model:presets -- [--model public/models/memlab-organism] [--if-missing]
  writes <model>/presets/universal-heads-40.json (the claims tests' universal mask at 40% of
  cross-attention heads) and its entry in <model>/manifest.json
  --if-missing   do nothing when the manifest lists a universal preset whose file checks out`;

/** What the manifest lists for a preset file. */
export interface PresetEntry {
  id: string;
  method: string;
  fractionPruned: number;
  sparsity?: number;
  unitKind?: 'heads' | 'neurons';
  path: string;
  bytes: number;
  sha256: string;
}

/** The universal mask as a preset file: its units, its share of all mask units and of its kind. */
export function universalPreset(
  manifest: Manifest,
  units: readonly number[],
  mask: string,
  sparsity: number,
  unitKind: 'heads' | 'neurons',
  cost: { costSeconds: number; cpuSeconds: number; flagged: number },
): MaskPreset & Record<string, unknown> {
  const all = manifest.unet.masks.reduce((n, m) => n + m.layers * m.units, 0);
  const percent = Math.round(sparsity * 100);
  const kindName = unitKind === 'heads' ? 'cross-attention heads' : 'cross-attention value neurons';
  return {
    id: `universal-${unitKind}-${percent}`,
    method: 'universal',
    label: `Universal mask, ${percent}% of ${kindName}`,
    masks: Object.fromEntries(manifest.unet.masks.map((m) => [m.name, m.name === mask ? [...units] : []])),
    fractionPruned: Math.round((units.length / all) * 1e5) / 1e5,
    sparsity,
    unitKind,
    of: manifest.variant?.of ?? manifest.id,
    trainedOn: `training captions flagged by the noise-gap detector (${cost.flagged}) against reference neutral prompts; no memorized labels`,
    recipe: 'npm run model:presets (the claims tests evaluation settings, src/node/claims-options.ts)',
    costSeconds: Math.round(cost.costSeconds * 10) / 10,
    cpuSeconds: Math.round(cost.cpuSeconds * 10) / 10,
  };
}

/**
 * manifest.json's text with `entry` in its presets list (replacing one with the same id, else
 * appended). Only the presets list is rewritten, in the file's own layout (one-space indent, as
 * the training recipe writes it), so every other number keeps its exact spelling ("4.0" stays
 * "4.0"); the result is checked by parsing it back.
 */
export function withPresetEntry(text: string, entry: PresetEntry): string {
  const manifest = JSON.parse(text) as { presets?: PresetEntry[] };
  const kept = (manifest.presets ?? []).filter((e) => e.id !== entry.id);
  const expected = { ...manifest, presets: [...kept, entry] };
  const item = (e: unknown) =>
    JSON.stringify(e, null, 1)
      .split('\n')
      .map((line) => `  ${line}`)
      .join('\n');
  const key = '\n "presets": [';
  const at = text.lastIndexOf(key);
  let out: string;
  if (at >= 0) {
    const close = text.indexOf('\n ]', at);
    if (close < 0) throw new Error('manifest.json: the presets list is not laid out as the recipe writes it');
    // Entries are flat objects: each runs from "\n  {" to "\n  }".
    const body = text.slice(at + key.length, close);
    const items = [...body.matchAll(/\n {2}\{[\s\S]*?\n {2}\}/g)].map((m) => m[0].slice(1));
    const others = items.filter((t) => (JSON.parse(t) as PresetEntry).id !== entry.id);
    out = `${text.slice(0, at + key.length)}\n${[...others, item(entry)].join(',\n')}${text.slice(close)}`;
  } else {
    const end = text.lastIndexOf('\n}');
    if (end < 0) throw new Error('manifest.json does not end with its closing brace');
    out = `${text.slice(0, end)},${key}\n${item(entry)}\n ]${text.slice(end)}`;
  }
  if (JSON.stringify(JSON.parse(out)) !== JSON.stringify(expected))
    throw new Error('manifest.json: could not add the preset entry without changing anything else');
  return out;
}

/**
 * The universal preset a model directory lists, when its file is there with the size and hash the
 * manifest records (a re-export of the same model keeps it: training/memlab/export.py); else null.
 */
async function shippedPresetOf(dir: string): Promise<string | null> {
  const manifest = await readManifest(dir);
  const entry = shippedUniversalEntry(manifest);
  if (!entry) return null;
  try {
    parseMaskPreset(JSON.parse(new TextDecoder().decode(await readModelFile(dir, entry))), manifest);
    return entry.path;
  } catch {
    return null;
  }
}

async function makePresets(dir: string, signal: AbortSignal): Promise<void> {
  const model = await loadNodeModel(dir, { precision: 'int8' });
  try {
    const manifest = model.manifest;
    const options = claimsUniversalOptions(manifest);
    const started = performance.now();
    const cpu = process.cpuUsage();
    const scores = await universalScores(model.runner, manifest, options, {
      signal,
      onProgress: progressPrinter(process.stderr),
    });
    process.stderr.write('\n');
    const used = process.cpuUsage(cpu);
    const sparsity = defaultSparsity(options.units);
    const units = universalUnits(scores.scores, sparsity);
    const preset = universalPreset(
      manifest,
      units,
      universalSpec(manifest, options.units).name,
      sparsity,
      options.units,
      {
        costSeconds: (performance.now() - started) / 1000,
        cpuSeconds: (used.user + used.system) / 1e6,
        flagged: scores.flagged.length,
      },
    );
    parseMaskPreset(preset, manifest); // the lab will read it back: refuse here what it would refuse there
    const path = `presets/${preset.id}.json`;
    const blob = Buffer.from(`${JSON.stringify(preset, null, 1)}\n`);
    await mkdir(join(dir, 'presets'), { recursive: true });
    await writeFile(join(dir, path), blob);
    const manifestPath = join(dir, 'manifest.json');
    const entry: PresetEntry = {
      id: preset.id,
      method: preset.method,
      fractionPruned: preset.fractionPruned,
      sparsity,
      unitKind: options.units,
      path,
      bytes: blob.length,
      sha256: createHash('sha256').update(blob).digest('hex'),
    };
    await writeFile(manifestPath, withPresetEntry(await readFile(manifestPath, 'utf8'), entry));
    console.log(
      `${preset.label}: ${units.length} units [${units.join(', ')}], ${scores.flagged.length} of ${scores.poolSize} captions flagged, ` +
        `${preset.costSeconds} s; wrote ${join(dir, path)} and its entry in ${manifestPath}`,
    );
  } finally {
    await model.release();
  }
}

export const presetsCommand: Command = {
  usage: PRESETS_USAGE,
  cancellable: true,
  async run(argv, signal) {
    const values = parseOptions(argv, {
      model: { type: 'string', default: 'public/models/memlab-organism' },
      'if-missing': { type: 'boolean', default: false },
    });
    const dir = resolve(values.model);
    if (values['if-missing']) {
      const have = await shippedPresetOf(dir);
      if (have) {
        console.log(`${have} is there and checks out: nothing to make`);
        return;
      }
    }
    await makePresets(dir, signal);
  },
};

await runIfMain(import.meta.url, presetsCommand);
