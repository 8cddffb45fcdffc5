/**
 * The detection study: every detector's scores on the model's memorized captions (positives) and
 * neutral prompts (negatives), judged by ROC, AUC and TPR at 1% FPR. Template captions never seen in
 * training ("poster number seven") are scored too and reported as their own group: they test whether
 * a detector follows the template rather than the exact caption, but are kept out of the ROC,
 * whose positives are the planted ground truth.
 */
import type { Manifest } from '../manifest';
import { type Roc, roc } from '../metrics/detection';
import type { PromptSet } from '../prompts/types';
import { JobInputError, type RunContext } from './context';
import type { ScienceRunner } from './sampler';
import {
  DETECTORS,
  type DetectionOptions,
  type DetectorKey,
  type PromptDetection,
  detectPrompts,
  orientedScore,
} from './detect';

/** 'unlabelled': prompts from an unlabelled imported set, scored but kept out of the ROC. */
export type PromptGroup = 'memorized' | 'template-held-out' | 'neutral' | 'unlabelled';

export interface StudyPrompt {
  prompt: string;
  group: PromptGroup;
  /** the memorized entry's id for the first two groups */
  id?: string;
}

export interface StudySets {
  /** neutral prompts to use (default: all of the manifest's) */
  neutralLimit?: number;
  /** include held-out template captions (default true) */
  heldOutTemplates?: boolean;
  /** study these sets instead of the manifest's (imported prompt lists) */
  promptSets?: readonly PromptSet[];
}

/** Study prompts from prompt sets: memorized sets are the positives, non-memorized the negatives. */
export function studyPromptsOfSets(sets: readonly PromptSet[]): StudyPrompt[] {
  const group = { memorized: 'memorized', 'non-memorized': 'neutral', unlabelled: 'unlabelled' } as const;
  return sets.flatMap((set) => set.prompts.map((p) => ({ prompt: p.caption, group: group[set.label] })));
}

/** The study's prompts from the manifest: each memorized entry's caption, held-out template captions, neutral prompts. */
export function studyPrompts(manifest: Manifest, sets: StudySets = {}): StudyPrompt[] {
  if (sets.promptSets) return studyPromptsOfSets(sets.promptSets);
  const out: StudyPrompt[] = manifest.memorized.map((m) => ({
    prompt: m.caption,
    group: 'memorized' as const,
    id: m.id,
  }));
  if (sets.heldOutTemplates ?? true) {
    for (const m of manifest.memorized)
      for (const c of m.heldOutCaptions) out.push({ prompt: c, group: 'template-held-out', id: m.id });
  }
  const neutral = manifest.neutralPrompts.slice(0, sets.neutralLimit ?? manifest.neutralPrompts.length);
  for (const p of neutral) out.push({ prompt: p, group: 'neutral' });
  return out;
}

export interface DetectorRoc {
  key: DetectorKey;
  label: string;
  paper: string;
  roc: Roc;
}

export interface DetectionStudy {
  prompts: StudyPrompt[];
  scores: PromptDetection[];
  rocs: DetectorRoc[];
}

/** ROC of every detector, memorized (positives) against neutral (negatives). */
export function detectorRocs(prompts: readonly StudyPrompt[], scores: readonly PromptDetection[]): DetectorRoc[] {
  if (prompts.length !== scores.length) throw new RangeError('one score per study prompt');
  return DETECTORS.map((d) => {
    const pos: number[] = [];
    const neg: number[] = [];
    prompts.forEach((p, i) => {
      if (p.group === 'memorized') pos.push(orientedScore(scores[i], d));
      else if (p.group === 'neutral') neg.push(orientedScore(scores[i], d));
    });
    return { key: d.key, label: d.label, paper: d.paper, roc: roc(pos, neg) };
  });
}

/** Scores every study prompt and builds the ROC of every detector. */
export async function runDetectionStudy(
  runner: ScienceRunner,
  manifest: Manifest,
  options: DetectionOptions & StudySets,
  ctx: RunContext = {},
): Promise<DetectionStudy> {
  const prompts = studyPrompts(manifest, options);
  if (!prompts.some((p) => p.group === 'memorized'))
    throw new JobInputError(
      "The detection study compares prompts known to be memorized with neutral ones, and this model brings no memorized prompts: import a prompt set labelled memorized (Wen et al.'s JSONL, NeMo's CSV or a list with one prompt per line), or use Detect for this prompt.",
    );
  if (!prompts.some((p) => p.group === 'neutral'))
    throw new JobInputError(
      'The detection study needs neutral prompts too: import a prompt set labelled non-memorized.',
    );
  const scores = await detectPrompts(
    runner,
    manifest,
    prompts.map((p) => p.prompt),
    options,
    ctx,
  );
  return { prompts, scores, rocs: detectorRocs(prompts, scores) };
}
