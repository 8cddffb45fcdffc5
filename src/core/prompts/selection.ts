/**
 * The list of prompt sets a study chooses from: the model's own sets first (from its manifest),
 * then the sets the user imported, each with an id and a "use in studies" choice. What the jobs get
 * is plain PromptSet lists (chosenPromptSets / studyPromptSets), so any model runs them alike: the
 * organism with its planted sets, a Stable Diffusion folder with imported ones only.
 */
import type { PromptFormat, PromptLabel, PromptSet } from './types';

/** An imported set as the lab keeps it (in this browser): the set and where it came from. */
export interface ImportedPromptSet {
  /** 'imported:<n>' */
  id: string;
  set: PromptSet;
  source: { file: string; format: PromptFormat; importedAt: string };
}

export interface ListedPromptSet {
  id: string;
  origin: 'model' | 'imported';
  set: PromptSet;
  /** imported sets: the file and format */
  source?: ImportedPromptSet['source'];
}

/** A model set's id: its label, so the choice survives switching between models. */
export const modelSetId = (label: PromptLabel): string => `model:${label}`;

/** By default a study uses the model's own sets, as the lab always did. */
export const DEFAULT_CHOSEN_SETS: readonly string[] = [modelSetId('memorized'), modelSetId('non-memorized')];

/** The model's own sets first, then the imported ones in import order. */
export function promptSetList(own: readonly PromptSet[], imported: readonly ImportedPromptSet[]): ListedPromptSet[] {
  return [
    ...own.map((set) => ({ id: modelSetId(set.label), origin: 'model' as const, set })),
    ...imported.map((i) => ({ id: i.id, origin: 'imported' as const, set: i.set, source: i.source })),
  ];
}

/** The chosen sets, in list order; sets without prompts are left out. */
export function chosenPromptSets(list: readonly ListedPromptSet[], chosen: readonly string[]): PromptSet[] {
  const ids = new Set(chosen);
  return list.filter((l) => ids.has(l.id) && l.set.prompts.length > 0).map((l) => l.set);
}

export interface PromptCounts {
  memorized: number;
  'non-memorized': number;
  unlabelled: number;
}

export function promptCounts(sets: readonly PromptSet[]): PromptCounts {
  const counts: PromptCounts = { memorized: 0, 'non-memorized': 0, unlabelled: 0 };
  for (const s of sets) counts[s.label] += s.prompts.length;
  return counts;
}

export interface StudySelection {
  /**
   * the sets the jobs run on; undefined when the choice is exactly the model's own sets, which the
   * jobs then take at the lab's sizes (neutral limit, held-out templates) under the keys the
   * evaluation shares
   */
  promptSets?: PromptSet[];
  counts: PromptCounts;
  /** why the detection study cannot run on this choice, in plain words */
  problem?: string;
}

/** What the study and the jobs that take prompts run on, for a choice of sets. */
export function studySelection(list: readonly ListedPromptSet[], chosen: readonly string[]): StudySelection {
  const sets = chosenPromptSets(list, chosen);
  const counts = promptCounts(sets);
  const own = list.filter((l) => l.origin === 'model' && l.set.prompts.length > 0);
  const onlyOwn =
    own.length > 0 &&
    sets.length === own.length &&
    list.filter((l) => chosen.includes(l.id) && l.set.prompts.length > 0).every((l) => l.origin === 'model');
  let problem: string | undefined;
  if (counts.memorized === 0 && counts['non-memorized'] === 0)
    problem = 'Choose at least one memorized and one non-memorized prompt set for the study.';
  else if (counts.memorized === 0) problem = 'Choose at least one memorized prompt set: the study needs copies.';
  else if (counts['non-memorized'] === 0)
    problem = 'Choose at least one non-memorized prompt set: the study compares copies with ordinary prompts.';
  return { ...(onlyOwn ? {} : { promptSets: sets }), counts, ...(problem ? { problem } : {}) };
}

/** The captions of the sets with this label, in order (at most `limit`). */
export function captionsLabelled(sets: readonly PromptSet[], label: PromptLabel, limit = Infinity): string[] {
  return sets
    .filter((s) => s.label === label)
    .flatMap((s) => s.prompts.map((p) => p.caption))
    .slice(0, limit);
}
