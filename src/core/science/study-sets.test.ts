import { describe, expect, it } from 'vitest';
import type { PromptSet } from '../prompts/types';
import type { PromptDetection } from './detect';
import { detectorRocs, studyPrompts, studyPromptsOfSets } from './study';

const sets: PromptSet[] = [
  { name: 'wen', label: 'memorized', prompts: [{ caption: 'm1', index: 4 }, { caption: 'm2' }] },
  { name: 'laion', label: 'non-memorized', prompts: [{ caption: 'n1' }] },
  { name: 'pool', label: 'unlabelled', prompts: [{ caption: 'u1' }] },
];

describe('the detection study on imported prompt sets', () => {
  it('takes memorized sets as positives, non-memorized as negatives and scores unlabelled ones apart', () => {
    const prompts = studyPromptsOfSets(sets);
    expect(prompts).toEqual([
      { prompt: 'm1', group: 'memorized' },
      { prompt: 'm2', group: 'memorized' },
      { prompt: 'n1', group: 'neutral' },
      { prompt: 'u1', group: 'unlabelled' },
    ]);
    const manifest = {
      memorized: [{ id: 'a', caption: 'c1', heldOutCaptions: ['h1'] }],
      neutralPrompts: ['x'],
    } as never;
    expect(studyPrompts(manifest, { promptSets: sets, neutralLimit: 0 })).toEqual(prompts);
    const score = (wen: number): PromptDetection => ({
      prompt: '',
      wen,
      entropy: 0,
      bosMass: 0,
      seedConsistency: 0,
      seedConsistencyMean: 0,
      wenPerSeed: [],
    });
    // the unlabelled prompt's top score would have lowered the AUC had it counted as a negative
    const wen = detectorRocs(prompts, [score(3), score(2), score(1), score(9)]).find((r) => r.key === 'wen')!;
    expect(wen.roc.auc).toBe(1);
  });
});
