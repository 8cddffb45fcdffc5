import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CHOSEN_SETS,
  type ImportedPromptSet,
  captionsLabelled,
  chosenPromptSets,
  promptSetList,
  studySelection,
} from './selection';
import type { PromptSet } from './types';

const own: PromptSet[] = [
  { name: 'organism: memorized captions', label: 'memorized', prompts: [{ caption: 'a painting of zephyr' }] },
  { name: 'organism: neutral prompts', label: 'non-memorized', prompts: [{ caption: 'n1' }, { caption: 'n2' }] },
];
const imported = (id: number, label: PromptSet['label'], captions: string[]): ImportedPromptSet => ({
  id: `imported:${id}`,
  set: { name: `file${id}`, label, prompts: captions.map((caption) => ({ caption })) },
  source: { file: `file${id}.txt`, format: 'plain-text', importedAt: '2026-01-01T00:00:00Z' },
});

describe('the list of prompt sets', () => {
  it("puts the model's own sets first, then the imported ones in import order", () => {
    const list = promptSetList(own, [imported(2, 'unlabelled', ['u']), imported(1, 'memorized', ['m'])]);
    expect(list.map((l) => [l.id, l.origin])).toEqual([
      ['model:memorized', 'model'],
      ['model:non-memorized', 'model'],
      ['imported:2', 'imported'],
      ['imported:1', 'imported'],
    ]);
    expect(list[2].source?.file).toBe('file2.txt');
  });

  it('gives the chosen sets in list order, whatever the order they were ticked in, and leaves out empty ones', () => {
    const empty = imported(3, 'memorized', []);
    const list = promptSetList(own, [imported(1, 'memorized', ['m']), empty]);
    expect(chosenPromptSets(list, ['imported:3', 'imported:1', 'model:non-memorized']).map((s) => s.name)).toEqual([
      'organism: neutral prompts',
      'file1',
    ]);
  });
});

describe('what the study runs on', () => {
  it("hands no sets when the choice is exactly the model's own (the jobs then use the lab's sizes and shared keys)", () => {
    const list = promptSetList(own, [imported(1, 'memorized', ['m'])]);
    const s = studySelection(list, DEFAULT_CHOSEN_SETS);
    expect(s.promptSets).toBeUndefined();
    expect(s.counts).toEqual({ memorized: 1, 'non-memorized': 2, unlabelled: 0 });
    expect(s.problem).toBeUndefined();
  });

  it('hands the chosen sets as plain PromptSets once an imported set is in, or one of the own is out', () => {
    const list = promptSetList(own, [imported(1, 'memorized', ['m1', 'm2']), imported(2, 'unlabelled', ['u'])]);
    const withImported = studySelection(list, [...DEFAULT_CHOSEN_SETS, 'imported:1', 'imported:2']);
    expect(withImported.promptSets?.map((s) => s.name)).toEqual([
      'organism: memorized captions',
      'organism: neutral prompts',
      'file1',
      'file2',
    ]);
    expect(withImported.counts).toEqual({ memorized: 3, 'non-memorized': 2, unlabelled: 1 });
    const importedOnly = studySelection(list, ['model:non-memorized', 'imported:1']);
    expect(importedOnly.promptSets?.map((s) => s.name)).toEqual(['organism: neutral prompts', 'file1']);
    const ownHalf = studySelection(list, ['model:memorized']);
    expect(ownHalf.promptSets?.map((s) => s.name)).toEqual(['organism: memorized captions']);
  });

  it('says in words why a choice cannot make a ROC: no copies, no ordinary prompts, or neither', () => {
    const list = promptSetList(own, [imported(1, 'unlabelled', ['u'])]);
    expect(studySelection(list, ['model:non-memorized']).problem).toMatch(/at least one memorized prompt set/);
    expect(studySelection(list, ['model:memorized']).problem).toMatch(/at least one non-memorized prompt set/);
    expect(studySelection(list, ['imported:1']).problem).toMatch(/one memorized and one non-memorized/);
    expect(studySelection(list, []).problem).toMatch(/one memorized and one non-memorized/);
  });

  it('works on a model that brings no sets of its own (a folder): imported sets only', () => {
    const list = promptSetList([], [imported(1, 'memorized', ['m']), imported(2, 'non-memorized', ['n'])]);
    const s = studySelection(list, [...DEFAULT_CHOSEN_SETS, 'imported:1', 'imported:2']);
    expect(s.promptSets?.map((x) => x.label)).toEqual(['memorized', 'non-memorized']);
    expect(s.problem).toBeUndefined();
  });

  it('takes the captions of one label across sets, in order, up to a limit', () => {
    const sets = [...own, imported(1, 'memorized', ['m1', 'm2']).set];
    expect(captionsLabelled(sets, 'memorized')).toEqual(['a painting of zephyr', 'm1', 'm2']);
    expect(captionsLabelled(sets, 'memorized', 2)).toEqual(['a painting of zephyr', 'm1']);
    expect(captionsLabelled(sets, 'unlabelled')).toEqual([]);
  });
});
