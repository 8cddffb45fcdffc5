/** Detection jobs: the noise-gap and attention detectors on the current prompt, and the detection study. */
import { experimentKey } from '../science/cache';
import { type DetectionOptions, type PromptDetection, detectPrompts } from '../science/detect';
import { detectionStudyKey } from '../science/shared-computations';
import type { PromptSet } from '../prompts/types';
import { runDetectionStudy } from '../science/study';
import type { LabJobSpec } from './job';
import { labSizes } from './sizes';
import { detectionTable } from './result-tables';
import { type StudyResult, studyJson, studyTable } from './study-export';

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
  table: detectionTable,
};

export interface StudyParams {
  detection: DetectionOptions;
  neutralLimit: number;
  heldOutTemplates: boolean;
  /** study these sets (memorized: positives, non-memorized: negatives) instead of the model's own */
  promptSets?: PromptSet[];
}

const studyOptions = (p: StudyParams) => ({
  ...p.detection,
  neutralLimit: p.neutralLimit,
  heldOutTemplates: p.heldOutTemplates,
  ...(p.promptSets ? { promptSets: p.promptSets } : {}),
});

/** The study the evaluation runs too: one key (shared-computations.ts), so either answers the other. */
export const studyJob: LabJobSpec<StudyParams, StudyResult> = {
  label: 'Detection study',
  panel: 'science',
  defaults: (manifest, lab) => {
    const { detection, neutralLimit } = labSizes(manifest);
    return {
      detection,
      neutralLimit,
      heldOutTemplates: false,
      ...(lab.promptSets ? { promptSets: [...lab.promptSets] } : {}),
    };
  },
  cacheKey: (manifest, p) => detectionStudyKey(manifest, studyOptions(p)),
  run: async (env, p) => {
    const study = await runDetectionStudy(env.runner, env.manifest, studyOptions(p), env);
    const sets = p.promptSets?.map((s) => ({ name: s.name, label: s.label, prompts: s.prompts.length }));
    return { ...study, detection: p.detection, ...(sets ? { sets } : {}) };
  },
  table: (manifest, study) => studyTable(study, manifest),
  json: (manifest, study) => studyJson(study, manifest),
};
