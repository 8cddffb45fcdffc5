/**
 * Science jobs inside the inference worker (it owns the sessions): one typed params/result pair per
 * job, default params per model, and runScienceJob, which answers from a per-experiment cache
 * (key: model id@version + job + params) or runs src/core/science on the worker's runner.
 *
 * The runner is wrapped so that every model call first yields to the event loop: ORT's WASM runs
 * resolve as microtasks, and without a yield a Cancel message would wait for the whole job.
 */
import type { Manifest } from '../core/manifest';
import type { TrainIndex } from '../core/metrics/replication';
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
  type UniversalMode,
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
import { yieldToEventLoop } from './yield';

export type ScienceJob = 'detect' | 'study' | 'attribution' | 'nemo' | 'universal' | 'evaluate';

export interface ScienceParamsMap {
  detect: { prompts: string[]; detection: DetectionOptions };
  study: { detection: DetectionOptions; neutralLimit: number; heldOutTemplates: boolean };
  /** per-head ablation: memorized captions (first n) against the reference half of the neutral prompts */
  attribution: { memorizedLimit: number; neutralLimit: number; seeds: number[]; steps: number; k: number; guidance: number };
  /** neutralLimit: reference prompts for NeMo's statistics (the reference half of the first n neutral prompts) */
  nemo: { prompt: string; neutralLimit: number; seeds: number[]; maxEvaluations: number };
  universal: { mode: UniversalMode; detection: DetectionOptions; neutralLimit: number };
  evaluate: { options: EvaluationOptions };
}

export interface ScienceResultMap {
  detect: PromptDetection[];
  study: DetectionStudy;
  attribution: AblationAttribution;
  nemo: NemoLocalization;
  universal: UniversalScores;
  evaluate: EvaluationReport;
}

/** A job with its params, discriminated by `job`. */
export type ScienceRequest = { [J in ScienceJob]: { job: J; params: ScienceParamsMap[J] } }[ScienceJob];
/** A job's result, discriminated by `job`. */
export type ScienceOutcome = { [J in ScienceJob]: { job: J; result: ScienceResultMap[J] } }[ScienceJob];

export type ScienceParams = { [J in ScienceJob]: ScienceParamsMap[J] };

/**
 * A model that was never trained (the random-weight fixture) gets smoke-test sizes: its numbers
 * mean nothing, so the lab only shows that the plumbing works, and e2e stays fast. A trained model
 * gets the sizes the evaluation CLI uses.
 */
export function isSmokeModel(manifest: Manifest): boolean {
  return manifest.trainingSteps === 0;
}

/** Default params of every job for a model (detect and nemo: the prompt is filled in by the caller). */
export function defaultScienceParams(manifest: Manifest, prompt: string): ScienceParams {
  const smoke = isSmokeModel(manifest);
  const guidance = manifest.defaults.guidance;
  const steps = smoke ? 2 : manifest.defaults.steps;
  const detection: DetectionOptions = smoke
    ? { seeds: [11, 12], steps, k: 1, guidance }
    : { seeds: [11, 12, 13, 14], steps, k: 3, guidance };
  const neutralLimit = smoke ? 8 : manifest.neutralPrompts.length;
  return {
    detect: { prompts: [prompt], detection },
    study: { detection, neutralLimit, heldOutTemplates: false },
    attribution: { memorizedLimit: smoke ? 4 : manifest.memorized.length, neutralLimit, seeds: smoke ? [1] : [1, 2], steps, k: detection.k, guidance },
    nemo: { prompt, neutralLimit, seeds: smoke ? [21, 22] : [21, 22, 23, 24], maxEvaluations: smoke ? 6 : 60 },
    universal: { mode: 'activation', detection, neutralLimit },
    evaluate: {
      options: defaultEvaluationOptions(
        manifest,
        smoke
          ? {
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
          : // The lab's one-button run: the CLI's defaults minus NeMo (one search per caption is the slow part).
            { nemo: { enabled: false, seeds: [21, 22, 23, 24], maxEvaluations: 60 } },
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
    cached(cache, experimentKey(model, name, params), () => ((computed = true), compute()));

  switch (request.job) {
    case 'detect': {
      const p = request.params;
      const result = await memo('detect', p, () => detectPrompts(runner, manifest, p.prompts, p.detection, ctx));
      return { outcome: { job: 'detect', result }, cached: !computed };
    }
    case 'study': {
      const p = request.params;
      const result = await memo('study', p, () => runDetectionStudy(runner, manifest, { ...p.detection, neutralLimit: p.neutralLimit, heldOutTemplates: p.heldOutTemplates }, ctx));
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
        const reference = await memo('nemo-reference', { prompts, seeds: p.seeds }, () => neutralReference(runner, manifest, prompts, p.seeds, ctx));
        return localizeNemo(runner, manifest, p.prompt, reference, { maxEvaluations: p.maxEvaluations }, ctx);
      });
      return { outcome: { job: 'nemo', result }, cached: !computed };
    }
    case 'universal': {
      const p = request.params;
      const result = await memo('universal', p, () =>
        universalScores(runner, manifest, { mode: p.mode, detection: p.detection, reference: neutralSplit(manifest, p.neutralLimit).reference }, ctx),
      );
      return { outcome: { job: 'universal', result }, cached: !computed };
    }
    case 'evaluate': {
      const p = request.params;
      // runEvaluation caches its own stages too; the whole report is cached for an instant second answer.
      const result = await memo('evaluate', p, async () => runEvaluation(runner, manifest, await env.train(), p.options, ctx, cache));
      return { outcome: { job: 'evaluate', result }, cached: !computed };
    }
  }
}
