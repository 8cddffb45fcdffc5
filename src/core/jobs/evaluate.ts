/** The evaluation: replication against utility for no mask, NeMo, universal masks and random controls. */
import { experimentKey } from '../science/cache';
import {
  type EvaluationOptions,
  type EvaluationReport,
  defaultEvaluationOptions,
  runEvaluation,
} from '../science/evaluate';
import { type ProxyEvaluationReport, runProxyEvaluation } from '../science/proxy-evaluate';
import { methodFor } from '../science/universal';
import { type LabJobSpec, setsOf } from './job';
import { labSizes, universalScoring } from './sizes';

export interface EvaluateParams {
  options: EvaluationOptions;
}

/**
 * A model with training images (the organism) gets replication against utility; one without (a
 * diffusers folder) gets the image-free proxies, and its report says that replication needs
 * reference images.
 *
 * The whole report is cached for an instant second answer; runEvaluation also caches its stages
 * under the keys the study, NeMo and universal jobs use, so it reuses what they computed.
 */
export const evaluateJob: LabJobSpec<EvaluateParams, EvaluationReport | ProxyEvaluationReport> = {
  label: 'Evaluation',
  panel: 'science',
  defaults: (manifest, lab) => {
    const { smoke, steps, neutralLimit } = labSizes(manifest);
    const universal = methodFor(lab.units);
    // The universal scores as "Find universal mask" computes them (sizes.ts), so they come from the cache.
    const scoring = universalScoring(manifest, lab.units);
    const sets = setsOf(lab);
    return {
      options: defaultEvaluationOptions(
        manifest,
        smoke
          ? {
              universal,
              maxFlagged: scoring.maxFlagged,
              seeds: [1, 2],
              utilitySeeds: [5],
              steps,
              sparsities: [0.05, 0.2],
              randomDraws: 1,
              detection: scoring.detection,
              nemo: { enabled: false, seeds: [21, 22], maxEvaluations: 6 },
              neutralLimit,
              memorizedLimit: 4,
              ...sets,
            }
          : // The lab's one-button run: the claims test's size (10 steps, 2 seeds), without NeMo (one search per caption is the slow part).
            {
              universal,
              maxFlagged: scoring.maxFlagged,
              seeds: [1, 2],
              utilitySeeds: [101],
              steps: 10,
              randomDraws: 2,
              detection: scoring.detection,
              nemo: { enabled: false, seeds: [21, 22, 23, 24], maxEvaluations: 60 },
              ...sets,
            },
      ),
    };
  },
  cacheKey: (manifest, p) => experimentKey(manifest, 'evaluate', p),
  run: async (env, p) =>
    env.train
      ? runEvaluation(env.runner, env.manifest, await env.train(), p.options, env, env.cache)
      : runProxyEvaluation(env.runner, env.manifest, p.options, env, env.cache),
};
