/** The experiment and its scores as a JSON file: enough to cite a result and reopen it (the link). */
import type { Experiment } from '../../core/experiment/experiment';
import type { Generation } from '../../state/store';
import type { VariantScores } from '../../workers/analysis-protocol';
import { MEMORIZATION_STEPS } from '../../core/analysis/scores';

const round = (v: number) => +v.toFixed(6);

function variantJson(name: string, v: VariantScores | undefined) {
  return {
    variant: name,
    memorizationScore: v ? round(v.memorization) : null,
    nearestTrainingImage: v?.replication
      ? {
          index: v.replication.index,
          memorized: v.replication.memorized,
          description: v.nearestLabel,
          comparedAt: v.replication.resolution,
          cosine: round(v.replication.cosine),
          rmse: round(v.replication.l2),
          tiledL2: round(v.replication.tiledL2),
        }
      : null,
    meanAbsDifferenceFromBaseline: v ? round(v.diffFromBaseline) : null,
  };
}

export function experimentJson(
  result: Generation,
  scores: VariantScores[] | null,
  experiment: Experiment | null,
  link: string,
): string {
  const names = result.baseline ? ['baseline', 'pruned'] : ['baseline'];
  return `${JSON.stringify(
    {
      format: 'memlab-experiment',
      formatVersion: 1,
      link,
      // The run the scores belong to (the controls may have moved on since).
      run: {
        prompt: result.params.prompt,
        seed: result.params.seed,
        steps: result.params.steps,
        guidance: result.params.guidance,
        scheduler: 'ddim',
        masks: result.masks,
        totalMs: Math.round(result.totalMs),
      },
      experiment,
      memorizationScore: `Wen et al.: mean noise gap over the first ${MEMORIZATION_STEPS} steps`,
      variants: names.map((n, i) => variantJson(n, scores?.[i])),
    },
    null,
    2,
  )}\n`;
}
