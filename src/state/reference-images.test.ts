import { encode } from 'fast-png';
import { describe, expect, test } from 'vitest';
import type { PromptSet } from '../core/prompts/types';
import { type ReferenceFileInput, referenceSelection, referenceSelectionOf } from './slices/prompt-sets';
import { loadedLabStore } from './test-support';

const memorized: PromptSet = {
  name: 'wen',
  label: 'memorized',
  prompts: [
    { caption: 'a photo of a cat', index: 7 },
    { caption: 'a red bicycle', index: 9, url: 'https://x.org/img/bike.jpg' },
    { caption: 'a quiet harbour', index: 11 },
  ],
};
const plain: PromptSet = { name: 'list', label: 'memorized', prompts: [{ caption: 'a bowl of soup' }] };
const ordinary: PromptSet = {
  name: 'ordinary',
  label: 'non-memorized',
  prompts: [{ caption: 'a wooden chair', index: 7 }],
};

describe('matching reference images to the ticked memorized sets', () => {
  test('counts matched memorized prompts by rule and leaves non-memorized sets and unreadable files out', () => {
    const s = referenceSelection(
      [memorized, plain, ordinary],
      ['7.png', 'bike.png', '11.png', '0.jpg'],
      [{ file: '11.png' }],
    );
    expect(s.memorized).toBe(4);
    expect(s.matches).toEqual([
      { caption: 'a photo of a cat', file: '7.png', by: 'index' },
      { caption: 'a red bicycle', file: 'bike.png', by: 'file name' },
      { caption: 'a bowl of soup', file: '0.jpg', by: 'position' },
    ]);
    expect(s.summary).toBe(
      '3 of 4 memorized prompts have a reference image (matched 1 by index, 1 by file name, 1 by position).',
    );
    expect(s.summaries).toHaveLength(2);
  });

  test('without a memorized set ticked it says what to tick', () => {
    const s = referenceSelection([ordinary], ['7.png']);
    expect(s.matches).toEqual([]);
    expect(s.summary).toMatch(/Tick a memorized prompt set/);
  });
});

const bytesFile = (name: string, bytes: Uint8Array): ReferenceFileInput => ({
  name,
  size: bytes.byteLength,
  lastModified: 1,
  arrayBuffer: async () => bytes.slice().buffer,
});

describe('reference images in the lab', () => {
  test('held files are checked, matched to an imported memorized set, and sent with the evaluation only when matched', async () => {
    const { store, sent } = await loadedLabStore();
    const jsonl = ['a photo of a cat', 'a red bicycle']
      .map((caption, index) => JSON.stringify({ caption, index }))
      .join('\n');
    await store.getState().importPromptFiles([{ name: 'm.jsonl', size: jsonl.length, text: async () => jsonl }], {
      label: 'memorized',
    });
    for (const id of store.getState().promptSets.chosen.filter((c) => !c.startsWith('imported:')))
      store.getState().choosePromptSet(id, false);

    const png = encode({ width: 2, height: 2, data: new Uint8Array(12).fill(200), channels: 3 });
    await store
      .getState()
      .setReferenceImages([
        bytesFile('0.png', png),
        bytesFile('1.png', new TextEncoder().encode('not an image')),
        bytesFile('notes.txt', new TextEncoder().encode('hello')),
      ]);
    const s = store.getState().promptSets;
    expect(s.references.map((f) => f.name)).toEqual(['0.png', '1.png', 'notes.txt']);
    expect(s.unreadableReferences).toEqual([
      { file: '1.png', reason: 'not a PNG or JPEG image (its first bytes say otherwise)' },
    ]);
    expect(referenceSelectionOf(store.getState()).summary).toBe(
      '1 of 2 memorized prompts has a reference image (matched 1 by index).',
    );

    sent.length = 0;
    store.getState().runScience('evaluate');
    await new Promise((resolve) => setTimeout(resolve, 0));
    const request = sent.find((r) => r.type === 'science');
    if (request?.type !== 'science' || request.job !== 'evaluate') throw new Error('no evaluation was sent');
    const refs = request.params.references;
    expect(refs?.matches).toEqual([{ caption: 'a photo of a cat', file: '0.png', by: 'index' }]);
    expect(refs?.files.map((f) => [f.name, f.bytes.byteLength])).toEqual([['0.png', png.byteLength]]);
    expect(refs?.unreadable.map((u) => u.file)).toEqual(['1.png']);

    store.getState().clearReferenceImages();
    expect(referenceSelectionOf(store.getState()).matches).toEqual([]);
  });
});
