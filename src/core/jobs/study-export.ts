/**
 * The detection study as files a researcher takes away: a CSV with one row per prompt (prompt,
 * set, label, every detector's raw score) and a JSON with the same rows, the sets, the detector
 * settings and each detector's AUC and TPR at 1% FPR.
 */
import type { Manifest } from '../manifest';
import { promptSetsOfManifest } from '../prompts/model-sets';
import type { PromptLabel } from '../prompts/types';
import { DETECTORS, type DetectionOptions } from '../science/detect';
import type { DetectionStudy, PromptGroup } from '../science/study';
import type { ResultTable } from './result-tables';

/** A set the study ran on, as the result remembers it (the prompts are the study's own). */
export interface StudiedSet {
  name: string;
  label: PromptLabel;
  prompts: number;
}

/**
 * The study job's result: the study, the detector settings, and the sets it ran on when they were
 * chosen (not the model's defaults). Both are optional: the evaluation stores a bare study under
 * the same key.
 */
export type StudyResult = DetectionStudy & { sets?: StudiedSet[]; detection?: DetectionOptions };

export interface StudyRow {
  prompt: string;
  set: string;
  label: PromptLabel;
  scores: Record<(typeof DETECTORS)[number]['key'], number>;
}

const HELD_OUT_SET = 'held-out template captions (kept out of the ROC)';

/** Each prompt's set and label: by position in the chosen sets, else by the group of the model's own sets. */
export function studyRows(study: StudyResult, manifest: Manifest): StudyRow[] {
  const names: string[] = [];
  const labels: PromptLabel[] = [];
  const given = study.sets && study.sets.reduce((n, s) => n + s.prompts, 0) === study.prompts.length;
  if (given) {
    for (const s of study.sets!)
      for (let i = 0; i < s.prompts; i++) {
        names.push(s.name);
        labels.push(s.label);
      }
  } else {
    const own = promptSetsOfManifest(manifest);
    const nameOf = (label: PromptLabel) => own.find((s) => s.label === label)?.name ?? label;
    const byGroup: Record<PromptGroup, [string, PromptLabel]> = {
      memorized: [nameOf('memorized'), 'memorized'],
      neutral: [nameOf('non-memorized'), 'non-memorized'],
      'template-held-out': [HELD_OUT_SET, 'unlabelled'],
      unlabelled: ['unlabelled', 'unlabelled'],
    };
    for (const p of study.prompts) {
      const [name, label] = byGroup[p.group];
      names.push(name);
      labels.push(label);
    }
  }
  return study.prompts.map((p, i) => ({
    prompt: p.prompt,
    set: names[i],
    label: labels[i],
    scores: Object.fromEntries(DETECTORS.map((d) => [d.key, study.scores[i][d.key]])) as StudyRow['scores'],
  }));
}

/** One row per prompt: its set and label and every detector's raw score (full precision in the CSV). */
export function studyTable(study: StudyResult, manifest: Manifest): ResultTable {
  return {
    columns: ['prompt', 'set', 'label', ...DETECTORS.map((d) => d.key)],
    rows: studyRows(study, manifest).map((r) => [r.prompt, r.set, r.label, ...DETECTORS.map((d) => r.scores[d.key])]),
  };
}

export function studyJson(study: StudyResult, manifest: Manifest): string {
  const { detection } = study;
  return JSON.stringify(
    {
      model: `${manifest.id}@${manifest.version}`,
      ...(detection
        ? {
            detection: { seeds: detection.seeds, steps: detection.steps, k: detection.k, guidance: detection.guidance },
          }
        : {}),
      detectors: DETECTORS.map((d) => {
        const roc = study.rocs.find((r) => r.key === d.key)?.roc;
        return {
          key: d.key,
          label: d.label,
          paper: d.paper,
          higherMeansMemorized: d.direction > 0,
          auc: roc?.auc ?? null,
          tprAt1PctFpr: roc?.tprAt1PctFpr ?? null,
        };
      }),
      ...(study.sets ? { sets: study.sets } : {}),
      prompts: studyRows(study, manifest),
    },
    null,
    2,
  );
}
