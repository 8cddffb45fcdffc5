/**
 * Where a study's prompts come from: the model's own sets (the organism's planted captions, its
 * neutral prompts and its training-caption sample, all in its manifest), or prompt sets the user
 * imported (Wen et al.'s JSONL, NeMo's CSV, plain lists), which is all a model from a diffusers
 * folder has besides the manifest's few neutral prompts. Every job reads its prompts through here.
 */
import type { Manifest } from '../manifest';
import { captionsLabelled } from '../prompts/selection';
import type { PromptSet } from '../prompts/types';
import { JobInputError } from './context';

export interface StudySources {
  /** prompts known to be memorized: the positives of the study, the prompts attribution and evaluation score */
  memorized: string[];
  /** prompts known not to be: negatives, references, utility */
  neutral: string[];
  /**
   * the prompts the universal mask flags from without reading their labels: the training captions
   * a model owner holds (the organism's), or every imported prompt not labelled non-memorized
   */
  pool: string[];
}

/** Training captions without their labels: scene caption sample + every trained planted caption, sorted. */
export function trainingCaptionPool(manifest: Manifest): string[] {
  const all = [...manifest.trainPromptsSample, ...manifest.memorized.flatMap((m) => m.captions)];
  return [...new Set(all)].sort();
}

/**
 * The sources of a study: imported sets when given (neutral prompts fall back to the manifest's
 * when no set is labelled non-memorized), else the manifest's own.
 */
export function studySources(manifest: Manifest, sets?: readonly PromptSet[]): StudySources {
  if (!sets) {
    return {
      memorized: manifest.memorized.map((m) => m.caption),
      neutral: [...manifest.neutralPrompts],
      pool: trainingCaptionPool(manifest),
    };
  }
  const neutral = captionsLabelled(sets, 'non-memorized');
  const pool = [...captionsLabelled(sets, 'unlabelled'), ...captionsLabelled(sets, 'memorized')];
  return {
    memorized: captionsLabelled(sets, 'memorized'),
    neutral: neutral.length ? neutral : [...manifest.neutralPrompts],
    pool: [...new Set(pool)].sort(),
  };
}

/** Refuses a job that needs memorized prompts when there are none, saying where they come from. */
export function requireMemorized(memorized: readonly string[], what: string): void {
  if (memorized.length === 0)
    throw new JobInputError(
      `${what} needs prompts known to be memorized, and this model brings none: import a prompt set labelled ` +
        "memorized (Wen et al.'s JSONL, NeMo's CSV or a list with one prompt per line).",
    );
}

/** Refuses a job that needs neutral prompts when there are none. */
export function requireNeutral(prompts: readonly string[], what: string): void {
  if (prompts.length === 0)
    throw new JobInputError(
      `${what} needs prompts known not to be memorized, and this model brings none: import a prompt set labelled non-memorized.`,
    );
}
