/**
 * Science jobs inside the inference worker (it owns the sessions): one typed params/result pair per
 * job, default params per model, and runScienceJob, which answers from a per-experiment cache
 * (key: model id@version + job + params) or runs src/core/science on the worker's runner.
 *
 * The runner is wrapped so that every model call first yields to the event loop: ORT's WASM runs
 * resolve as microtasks, and without a yield a Cancel message would wait for the whole job.
 */
import type { Manifest } from '../core/manifest';
import { nearestTrainingImage, type ReplicationScore, type TrainIndex } from '../core/metrics/replication';
import {
  maskSetOfUnits,
  runVariantTable,
  type VariantMask,
  type VariantReport,
  type VariantTableOptions,
} from '../core/science/variants';
import { type MaskPreset, parseMaskPreset } from '../core/presets';
import { allOnes } from '../core/masks';
import { describeTrainingImage } from './analysis';
import type { ModelRunner } from '../core/pipeline';
import {
  type AblationAttribution,
  type DetectionOptions,
  type DetectionStudy,
  type EvaluationOptions,
  type EvaluationReport,
  type ExperimentCache,
  type NemoLocalization,
  type Progress,
  type PromptDetection,
  type AblationUnits,
  type UniversalMethod,
  DEFAULT_UNIVERSAL,
  methodFor,
  type UniversalScores,
  ablationAttribution,
  cached,
  defaultEvaluationOptions,
  detectPrompts,
  experimentKey,
  localizeNemo,
  neutralReference,
  neutralSplit,
  runDetectionStudy,
  runEvaluation,
  universalScores,
} from '../core/science';
import { encodePrompts, sampleRows } from '../core/science/batch';
import { yieldToEventLoop } from './yield';

export type ScienceJob =
  | 'detect'
  | 'study'
  | 'attribution'
  | 'nemo'
  | 'universal'
  | 'evaluate'
  | 'preset'
  | 'variants'
  | 'variant-table';

/** A model of the lab's list by id and the URL of its directory (ends with /). */
export interface ModelRef {
  id: string;
  url: string;
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

export interface ScienceParamsMap {
  detect: { prompts: string[]; detection: DetectionOptions };
  study: { detection: DetectionOptions; neutralLimit: number; heldOutTemplates: boolean };
  /** per-head ablation: memorized captions (first n) against the reference half of the neutral prompts */
  attribution: {
    memorizedLimit: number;
    neutralLimit: number;
    seeds: number[];
    steps: number;
    k: number;
    guidance: number;
  };
  /** neutralLimit: reference prompts for NeMo's statistics (the reference half of the first n neutral prompts) */
  nemo: { prompt: string; neutralLimit: number; seeds: number[]; maxEvaluations: number };
  universal: UniversalMethod & { detection: DetectionOptions; neutralLimit: number; maxFlagged?: number };
  evaluate: { options: EvaluationOptions };
  /** a mask preset the loaded model's manifest lists (UniForget) */
  preset: { id: string };
  /** the same prompt, seed and masks on several models (the base and its unlearning variants) */
  variants: {
    models: ModelRef[];
    prompt: string;
    seed: number;
    steps: number;
    guidance: number;
    masks: Record<string, number[]>;
  };
  /** the evaluation across variants: base first; masks: none, the base's presets, and `masks` */
  'variant-table': { base: ModelRef; models: ModelRef[]; masks: VariantMask[]; presets: boolean } & Omit<
    VariantTableOptions,
    'masks'
  >;
}

export interface ScienceResultMap {
  detect: PromptDetection[];
  study: DetectionStudy;
  attribution: AblationAttribution;
  nemo: NemoLocalization;
  universal: UniversalScores;
  evaluate: EvaluationReport;
  preset: MaskPreset;
  variants: { prompt: string; seed: number; masked: boolean; cells: VariantCell[] };
  'variant-table': VariantReport;
}

/** A job with its params, discriminated by `job`. */
export type ScienceRequest = { [J in ScienceJob]: { job: J; params: ScienceParamsMap[J] } }[ScienceJob];
/** A job's result, discriminated by `job`. */
export type ScienceOutcome = { [J in ScienceJob]: { job: J; result: ScienceResultMap[J] } }[ScienceJob];

/** The jobs the panel's buttons start with the model's default params (the others need the lab's context). */
export type DefaultJob = Exclude<ScienceJob, 'preset' | 'variants' | 'variant-table'>;
export type ScienceParams = { [J in DefaultJob]: ScienceParamsMap[J] };

/** The lab's variant table: small enough for WASM in a tab (two seeds, 10 steps, 16 utility prompts). */
export function variantTableParams(
  manifest: Manifest,
  base: ModelRef,
  models: ModelRef[],
  masks: VariantMask[],
): ScienceParamsMap['variant-table'] {
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

/**
 * A model that was never trained (the random-weight fixture) gets smoke-test sizes: its numbers
 * mean nothing, so the lab only shows that the plumbing works, and e2e stays fast. A trained model
 * gets the CLI's sizes for detection and NeMo, and the claims tests' sizes for the ablation-heavy
 * jobs (universal heads, evaluation), which run hundreds of UNet calls per unit x prompt x seed.
 */
export function isSmokeModel(manifest: Manifest): boolean {
  return manifest.trainingSteps === 0;
}

/** Default params of every job for a model (detect and nemo: the prompt is filled in by the caller). */
export function defaultScienceParams(
  manifest: Manifest,
  prompt: string,
  units: AblationUnits = DEFAULT_UNIVERSAL.units,
): ScienceParams {
  const smoke = isSmokeModel(manifest);
  const guidance = manifest.defaults.guidance;
  const steps = smoke ? 2 : manifest.defaults.steps;
  const detection: DetectionOptions = smoke
    ? { seeds: [11, 12], steps, k: 1, guidance }
    : { seeds: [11, 12, 13, 14], steps, k: 3, guidance };
  const neutralLimit = smoke ? 8 : manifest.neutralPrompts.length;
  // Ablation runs (units + 1) x prompts x seeds trajectories: two seeds, k = 2, 24 flagged captions
  // against 16 reference prompts keep the 20-head ablation to a few minutes in a WASM tab.
  const light: DetectionOptions = smoke ? detection : { seeds: [11, 12], steps: 10, k: 2, guidance };
  const universal =
    units === 'heads'
      ? { detection: light, neutralLimit: smoke ? 8 : 32, maxFlagged: smoke ? 4 : 24 }
      : { detection, neutralLimit };
  return {
    detect: { prompts: [prompt], detection },
    study: { detection, neutralLimit, heldOutTemplates: false },
    attribution: {
      memorizedLimit: smoke ? 4 : manifest.memorized.length,
      neutralLimit,
      seeds: smoke ? [1] : [1, 2],
      steps,
      k: detection.k,
      guidance,
    },
    nemo: { prompt, neutralLimit, seeds: smoke ? [21, 22] : [21, 22, 23, 24], maxEvaluations: smoke ? 6 : 60 },
    universal: { ...methodFor(units), ...universal },
    evaluate: {
      options: defaultEvaluationOptions(
        manifest,
        smoke
          ? {
              universal: methodFor(units),
              seeds: [1, 2],
              utilitySeeds: [5],
              steps,
              sparsities: [0.05, 0.2],
              randomDraws: 1,
              detection,
              nemo: { enabled: false, seeds: [21, 22], maxEvaluations: 6 },
              neutralLimit,
              memorizedLimit: 4,
            }
          : // The lab's one-button run: the claims test's size (10 steps, 2 seeds), without NeMo (one search per caption is the slow part).
            {
              universal: methodFor(units),
              seeds: [1, 2],
              utilitySeeds: [101],
              steps: 10,
              randomDraws: 2,
              detection: light,
              nemo: { enabled: false, seeds: [21, 22, 23, 24], maxEvaluations: 60 },
            },
      ),
    },
  };
}

/** The runner with a yield (and an abort check) before every model call; see the file comment. */
export function yieldingRunner(runner: ModelRunner, signal: AbortSignal): ModelRunner {
  const gate = async () => {
    await yieldToEventLoop();
    if (signal.aborted) throw new DOMException('aborted before a model call', 'AbortError');
  };
  return {
    encodeText: async (ids) => (await gate(), runner.encodeText(ids)),
    runUNet: async (feeds, want) => (await gate(), runner.runUNet(feeds, want)),
  };
}

export interface ScienceEnv {
  runner: ModelRunner;
  manifest: Manifest;
  cache: ExperimentCache;
  /** the training images, for the evaluation's replication scores (loaded on first use) */
  train: () => Promise<TrainIndex>;
  /**
   * Another model by its directory URL (a variant, or the base of the loaded variant), loaded on
   * first use with progress and kept; the loaded model itself when the URL is its own.
   */
  openModel?: (url: string, onProgress: (p: Progress) => void) => Promise<{ manifest: Manifest; runner: ModelRunner }>;
  /** A JSON file a model's manifest lists (presets), fetched and checked against its size and hash. */
  fetchJson?: (modelUrl: string, entry: { path: string; bytes: number; sha256: string }) => Promise<unknown>;
  /** the loaded model's directory URL */
  modelUrl?: string;
}

/** Runs one job (or answers it from the cache); `cached` says which. */
export async function runScienceJob(
  env: ScienceEnv,
  request: ScienceRequest,
  signal: AbortSignal,
  onProgress: (p: Progress) => void,
): Promise<{ outcome: ScienceOutcome; cached: boolean }> {
  const { manifest, cache } = env;
  const runner = yieldingRunner(env.runner, signal);
  const ctx = { signal, onProgress };
  const model = { id: manifest.id, version: manifest.version };
  let computed = false;
  const memo = <T>(name: string, params: unknown, compute: () => Promise<T>): Promise<T> =>
    cached(cache, experimentKey(model, name, params), () => {
      computed = true;
      return compute();
    });

  switch (request.job) {
    case 'detect': {
      const p = request.params;
      const result = await memo('detect', p, () => detectPrompts(runner, manifest, p.prompts, p.detection, ctx));
      return { outcome: { job: 'detect', result }, cached: !computed };
    }
    case 'study': {
      const p = request.params;
      const result = await memo('study', p, () =>
        runDetectionStudy(
          runner,
          manifest,
          { ...p.detection, neutralLimit: p.neutralLimit, heldOutTemplates: p.heldOutTemplates },
          ctx,
        ),
      );
      return { outcome: { job: 'study', result }, cached: !computed };
    }
    case 'attribution': {
      const p = request.params;
      const result = await memo('attribution', p, () =>
        ablationAttribution(
          runner,
          manifest,
          {
            units: 'heads',
            memorized: manifest.memorized.slice(0, p.memorizedLimit).map((m) => m.caption),
            neutral: neutralSplit(manifest, p.neutralLimit).reference,
            seeds: p.seeds,
            steps: p.steps,
            k: p.k,
            guidance: p.guidance,
          },
          ctx,
        ),
      );
      return { outcome: { job: 'attribution', result }, cached: !computed };
    }
    case 'nemo': {
      const p = request.params;
      const result = await memo('nemo', p, async () => {
        // The neutral reference does not depend on the prompt: cached on its own, so a second prompt is quick.
        const prompts = neutralSplit(manifest, p.neutralLimit).reference;
        const reference = await memo('nemo-reference', { prompts, seeds: p.seeds }, () =>
          neutralReference(runner, manifest, prompts, p.seeds, ctx),
        );
        return localizeNemo(runner, manifest, p.prompt, reference, { maxEvaluations: p.maxEvaluations }, ctx);
      });
      return { outcome: { job: 'nemo', result }, cached: !computed };
    }
    case 'universal': {
      const p = request.params;
      const result = await memo('universal', p, () =>
        universalScores(
          runner,
          manifest,
          {
            units: p.units,
            mode: p.mode,
            detection: p.detection,
            maxFlagged: p.maxFlagged,
            reference: neutralSplit(manifest, p.neutralLimit).reference,
          },
          ctx,
        ),
      );
      return { outcome: { job: 'universal', result }, cached: !computed };
    }
    case 'evaluate': {
      const p = request.params;
      // runEvaluation caches its own stages too; the whole report is cached for an instant second answer.
      const result = await memo('evaluate', p, async () =>
        runEvaluation(runner, manifest, await env.train(), p.options, ctx, cache),
      );
      return { outcome: { job: 'evaluate', result }, cached: !computed };
    }
    case 'preset': {
      const entry = manifest.presets?.find((e) => e.id === request.params.id);
      if (!entry) throw new Error(`${manifest.id} ships no preset "${request.params.id}"`);
      if (!env.fetchJson || !env.modelUrl) throw new Error('this lab cannot fetch model files');
      const result = parseMaskPreset(await env.fetchJson(env.modelUrl, entry), manifest);
      return { outcome: { job: 'preset', result }, cached: false };
    }
    case 'variants': {
      const p = request.params;
      const result = await memo('variants', p, () => compareVariants(env, p, signal, onProgress));
      return { outcome: { job: 'variants', result }, cached: !computed };
    }
    case 'variant-table': {
      const p = request.params;
      const result = await memo('variant-table', p, () => variantTable(env, p, signal, onProgress));
      return { outcome: { job: 'variant-table', result }, cached: !computed };
    }
  }
}

function opener(env: ScienceEnv) {
  if (!env.openModel) throw new Error('this lab cannot open a second model');
  return env.openModel;
}

/** Each model in turn: the prompt with and (if any are set) without the masks, same seed, images scored against the training set. */
async function compareVariants(
  env: ScienceEnv,
  p: ScienceParamsMap['variants'],
  signal: AbortSignal,
  onProgress: (p: Progress) => void,
): Promise<ScienceResultMap['variants']> {
  const open = opener(env);
  const train = await env.train();
  const masked = Object.values(p.masks).some((u) => u.length > 0);
  const cells: VariantCell[] = [];
  for (const ref of p.models) {
    const { manifest, runner: raw } = await open(ref.url, onProgress);
    const runner = yieldingRunner(raw, signal);
    const sets = masked ? [allOnes(manifest), maskSetOfUnits(manifest, p.masks)] : [allOnes(manifest)];
    const emb = await encodePrompts(runner, manifest, [p.prompt], { signal });
    const out = await sampleRows(
      runner,
      manifest,
      emb,
      sets,
      sets.map((_, k) => ({ prompt: 0, seed: p.seed, maskSet: k })),
      { steps: p.steps, guidance: p.guidance, keepImages: true, stage: `generate ${ref.id}` },
      { signal, onProgress },
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

/** The variant table in the lab: models opened lazily as the table reaches them. */
async function variantTable(
  env: ScienceEnv,
  p: ScienceParamsMap['variant-table'],
  signal: AbortSignal,
  onProgress: (p: Progress) => void,
): Promise<VariantReport> {
  const open = opener(env);
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
  // Opening a model to read its manifest keeps it in the worker, so the table's load() later is free.
  const opened: { r: ModelRef; manifest: Manifest }[] = [];
  for (const r of refs)
    opened.push({ r, manifest: r === base ? baseModel.manifest : (await open(r.url, onProgress)).manifest });
  return runVariantTable(
    opened.map(({ r, manifest }) => ({
      manifest,
      load: async () => ({ runner: yieldingRunner((await open(r.url, onProgress)).runner, signal) }),
    })),
    await env.train(),
    { ...options, masks: [...shipped, ...masks] },
    { signal, onProgress },
  );
}
