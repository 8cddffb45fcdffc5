/**
 * How big the lab's default jobs are for a model. A model that was never trained (the random-weight
 * fixture) gets smoke-test sizes: its numbers mean nothing, so the lab only shows that the plumbing
 * works, and e2e stays fast. A trained model gets the CLI's sizes for detection and NeMo, and the
 * claims tests' sizes for the ablation-heavy jobs (universal scores, evaluation), which run
 * hundreds of UNet calls per unit x prompt x seed.
 */
import type { Manifest } from '../manifest';
import type { DetectionOptions } from '../science/detect';
import type { AblationUnits } from '../science/localize';

export function isSmokeModel(manifest: Manifest): boolean {
  return manifest.trainingSteps === 0;
}

export interface LabSizes {
  smoke: boolean;
  guidance: number;
  steps: number;
  /** detection of one prompt and the detection study */
  detection: DetectionOptions;
  /** first n neutral prompts for studies and references */
  neutralLimit: number;
  /**
   * the detector the ablation-heavy jobs flag with: two seeds, k = 2 over a 10-step schedule, as
   * the claims tests run it (smoke: the smoke detection)
   */
  light: DetectionOptions;
}

export function labSizes(manifest: Manifest): LabSizes {
  const smoke = isSmokeModel(manifest);
  const guidance = manifest.defaults.guidance;
  const steps = smoke ? 2 : manifest.defaults.steps;
  const detection: DetectionOptions = smoke
    ? { seeds: [11, 12], steps, k: 1, guidance }
    : { seeds: [11, 12, 13, 14], steps, k: 3, guidance };
  return {
    smoke,
    guidance,
    steps,
    detection,
    neutralLimit: smoke ? 8 : manifest.neutralPrompts.length,
    light: smoke ? detection : { seeds: [11, 12], steps: 10, k: 2, guidance },
  };
}

/**
 * How the lab scores the universal mask, in "Find universal mask" and in "Evaluate" alike, so the
 * evaluation measures the very mask the lab applies and finds its scores in the cache: the claims
 * tests' scoring (every flagged caption up to the default limit, against the reference half of all
 * neutral prompts). On the organism that is 45 flagged captions against 32 prompts, 204 UNet calls
 * of head ablation (24 against 16 would take 106, but would score a mask nobody evaluated).
 * Smoke: 8 neutral prompts, and at most 4 flagged captions for the head ablation.
 */
export function universalScoring(
  manifest: Manifest,
  units: AblationUnits,
): { detection: DetectionOptions; neutralLimit: number; maxFlagged?: number } {
  const { smoke, light, neutralLimit } = labSizes(manifest);
  return smoke && units === 'heads'
    ? { detection: light, neutralLimit, maxFlagged: 4 }
    : { detection: light, neutralLimit };
}
