/**
 * The evaluation the claims tests hold the organism to (src/node/claims.test.ts), in one place:
 * `npm run model:presets` builds the shipped universal mask from the same universal scores, so
 * the mask a class applies in one click is the mask the claims were measured with (the claims
 * test checks that the shipped preset equals its evaluation's universal mask).
 */
import type { Manifest } from '../core/manifest';
import { type EvaluationOptions, defaultEvaluationOptions } from '../core/science/evaluate';
import { type UniversalOptions, neutralSplit } from '../core/science/universal';

/**
 * 10 DDIM steps, 2 replication seeds, 1 utility seed, the default universal mask (cross-attention
 * heads scored by ablation) at 30% and 40% (the shipped preset's; smaller sparsities change little
 * and each costs as much as these) with 2 random draws each, first-steps detection with k = 2 over
 * 2 seeds, no NeMo: a few minutes on 2 free cores.
 */
export function claimsEvaluationOptions(manifest: Manifest): EvaluationOptions {
  const steps = Math.min(10, manifest.defaults.steps);
  return defaultEvaluationOptions(manifest, {
    seeds: [1, 2],
    utilitySeeds: [101],
    steps,
    sparsities: [0.3, 0.4],
    randomDraws: 2,
    detection: { seeds: [11, 12], steps, k: 2, guidance: manifest.defaults.guidance },
    nemo: { enabled: false, seeds: [], maxEvaluations: 0 },
  });
}

/** The universal scores inside that evaluation, with the options runEvaluation gives them. */
export function claimsUniversalOptions(
  manifest: Manifest,
  options: EvaluationOptions = claimsEvaluationOptions(manifest),
): UniversalOptions {
  return {
    ...options.universal,
    detection: options.detection,
    reference: neutralSplit(manifest, options.neutralLimit).reference,
    maxFlagged: options.maxFlagged,
  };
}
