/** Detection jobs: the noise-gap and attention detectors on the current prompt, and the detection study. */
import { experimentKey } from '../science/cache';
import { type DetectionOptions, type PromptDetection, detectPrompts } from '../science/detect';
import { detectionStudyKey } from '../science/shared-computations';
import { type DetectionStudy, runDetectionStudy } from '../science/study';
import type { LabJobSpec } from './job';
import { labSizes } from './sizes';

export interface DetectParams {
  prompts: string[];
  detection: DetectionOptions;
}

export const detectJob: LabJobSpec<DetectParams, PromptDetection[]> = {
  label: 'Detection for this prompt',
  panel: 'science',
  defaults: (manifest, lab) => ({ prompts: [lab.prompt], detection: labSizes(manifest).detection }),
  cacheKey: (manifest, p) => experimentKey(manifest, 'detect', p),
  run: (env, p) => detectPrompts(env.runner, env.manifest, p.prompts, p.detection, env),
};

export interface StudyParams {
  detection: DetectionOptions;
  neutralLimit: number;
  heldOutTemplates: boolean;
}

const studyOptions = (p: StudyParams) => ({
  ...p.detection,
  neutralLimit: p.neutralLimit,
  heldOutTemplates: p.heldOutTemplates,
});

/** The study the evaluation runs too: one key (shared-computations.ts), so either answers the other. */
export const studyJob: LabJobSpec<StudyParams, DetectionStudy> = {
  label: 'Detection study',
  panel: 'science',
  defaults: (manifest) => {
    const { detection, neutralLimit } = labSizes(manifest);
    return { detection, neutralLimit, heldOutTemplates: false };
  },
  cacheKey: (manifest, p) => detectionStudyKey(manifest, studyOptions(p)),
  run: (env, p) => runDetectionStudy(env.runner, env.manifest, studyOptions(p), env),
};
