/**
 * Jobs over a model family (the base and its unlearning variants): a mask preset the model ships,
 * one prompt on every model side by side, and the evaluation across variants.
 */
import { describeTrainingImage } from '../analysis/scores';
import type { Manifest } from '../manifest';
import { allOnes } from '../masks';
import { nearestTrainingImage, type ReplicationScore } from '../metrics/replication';
import { type MaskPreset, parseMaskPreset } from '../presets';
import { encodePrompts, sampleRows } from '../science/batch';
import { experimentKey } from '../science/cache';
import {
  type VariantMask,
  type VariantReport,
  type VariantTableOptions,
  maskSetOfUnits,
  runVariantTable,
} from '../science/variants';
import { type JobEnv, type JobSpec, opener, trainingImages } from './job';
import { isSmokeModel } from './sizes';
import { variantReportTable } from './result-tables';

/** A model of the lab's list by id and the URL of its directory (ends with /). */
export interface ModelRef {
  id: string;
  url: string;
}

/** A mask preset the loaded model's manifest lists (UniForget). */
export interface PresetParams {
  id: string;
}

/** A preset is a file the model ships, fetched and checked each time: nothing to cache. */
export const presetJob: JobSpec<PresetParams, MaskPreset> = {
  label: 'Loading the preset',
  panel: 'variants',
  cacheKey: () => null,
  run: async (env, p) => {
    const { manifest } = env;
    const entry = manifest.presets?.find((e) => e.id === p.id);
    if (!entry) throw new Error(`${manifest.id} ships no preset "${p.id}"`);
    if (!env.fetchJson || !env.modelUrl) throw new Error('this lab cannot fetch model files');
    return parseMaskPreset(await env.fetchJson(env.modelUrl, entry), manifest);
  },
};

/** The same prompt, seed and masks on several models (the base and its unlearning variants). */
export interface VariantsParams {
  models: ModelRef[];
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
  masks: Record<string, number[]>;
}

/**
 * One model's images in a side-by-side comparison: unmasked, and with the experiment's masks if
 * any. Images are CHW in [-1, 1] as plain numbers, because results are cached as JSON (a
 * Float32Array would come back from the cache as an object).
 */
export interface VariantCell {
  model: string;
  images: { masked: boolean; image: number[]; nearest: ReplicationScore; nearestLabel: string }[];
}

export interface VariantsResult {
  prompt: string;
  seed: number;
  masked: boolean;
  cells: VariantCell[];
}

/** Each model in turn: the prompt with and (if any are set) without the masks, same seed, images scored against the training set. */
async function compareVariants(env: JobEnv, p: VariantsParams): Promise<VariantsResult> {
  const open = opener(env);
  const onProgress = env.onProgress ?? (() => undefined);
  const train = await trainingImages(env);
  const masked = Object.values(p.masks).some((u) => u.length > 0);
  const cells: VariantCell[] = [];
  for (const ref of p.models) {
    const { manifest, runner } = await open(ref.url, onProgress);
    const sets = masked ? [allOnes(manifest), maskSetOfUnits(manifest, p.masks)] : [allOnes(manifest)];
    const emb = await encodePrompts(runner, manifest, [p.prompt], { signal: env.signal });
    const out = await sampleRows(
      runner,
      manifest,
      emb,
      sets,
      sets.map((_, k) => ({ prompt: 0, seed: p.seed, maskSet: k })),
      { steps: p.steps, guidance: p.guidance, keepImages: true, stage: `generate ${ref.id}` },
      env,
    );
    cells.push({
      model: ref.id,
      images: out.images!.map((image, k) => {
        const nearest = nearestTrainingImage(image, train);
        return {
          masked: k === 1,
          image: Array.from(image),
          nearest,
          nearestLabel: describeTrainingImage(manifest, nearest),
        };
      }),
    });
  }
  return { prompt: p.prompt, seed: p.seed, masked, cells };
}

export const variantsJob: JobSpec<VariantsParams, VariantsResult> = {
  label: 'Variants side by side',
  panel: 'variants',
  cacheKey: (manifest, p) => experimentKey(manifest, 'variants', p),
  run: compareVariants,
};

/** The evaluation across variants: base first; masks: none, the base's presets (if `presets`), and `masks`. */
export type VariantTableParams = { base: ModelRef; models: ModelRef[]; masks: VariantMask[]; presets: boolean } & Omit<
  VariantTableOptions,
  'masks'
>;

/** What the lab's variant table is run over: the family's base, its variants, and the lab's masks. */
export interface VariantTableContext {
  base: ModelRef;
  models: ModelRef[];
  masks: VariantMask[];
}

/** The variant table in the lab: models opened lazily as the table reaches them. */
async function variantTable(env: JobEnv, p: VariantTableParams): Promise<VariantReport> {
  const open = opener(env);
  const onProgress = env.onProgress ?? (() => undefined);
  const { base, models, masks, presets, ...options } = p;
  const baseModel = await open(base.url, onProgress);
  const shipped: VariantMask[] = [];
  if (presets) {
    if (!env.fetchJson) throw new Error('this lab cannot fetch model files');
    for (const entry of baseModel.manifest.presets ?? []) {
      const preset = parseMaskPreset(await env.fetchJson(base.url, entry), baseModel.manifest);
      shipped.push({ id: preset.id, label: preset.label, units: preset.masks });
    }
  }
  const refs = [base, ...models.filter((m) => m.url !== base.url)];
  // Opening a model to read its manifest keeps it in the host, so the table's load() later is free.
  const opened: { r: ModelRef; manifest: Manifest }[] = [];
  for (const r of refs)
    opened.push({ r, manifest: r === base ? baseModel.manifest : (await open(r.url, onProgress)).manifest });
  return runVariantTable(
    opened.map(({ r, manifest }) => ({
      manifest,
      load: async () => ({ runner: (await open(r.url, onProgress)).runner }),
    })),
    await trainingImages(env),
    { ...options, masks: [...shipped, ...masks] },
    env,
  );
}

/** The lab's variant table: small enough for WASM in a tab (two seeds, 10 steps, 16 utility prompts). */
export function variantTableParams(
  manifest: Manifest,
  base: ModelRef,
  models: ModelRef[],
  masks: VariantMask[],
): VariantTableParams {
  const smoke = isSmokeModel(manifest);
  return {
    base,
    models,
    masks,
    presets: true,
    seeds: smoke ? [1] : [1, 2],
    utilitySeeds: [101],
    steps: smoke ? 2 : 10,
    guidance: manifest.defaults.guidance,
    calibrationQuantile: 0.01,
    neutralLimit: smoke ? 8 : 32,
  };
}

export const variantTableJob: JobSpec<VariantTableParams, VariantReport, VariantTableContext> = {
  label: 'Evaluation across variants',
  panel: 'variants',
  defaults: (manifest, { base, models, masks }) => variantTableParams(manifest, base, models, masks),
  cacheKey: (manifest, p) => experimentKey(manifest, 'variant-table', p),
  run: variantTable,
  table: variantReportTable,
};
