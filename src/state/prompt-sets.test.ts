import { describe, expect, test } from 'vitest';
import { readStoredPromptSets } from './prompt-set-storage';
import {
  MAX_PROMPT_FILE_BYTES,
  type PromptFileInput,
  type PromptSetStorage,
  type StoredPromptSets,
  listedPromptSets,
  studySelectionOf,
} from './slices/prompt-sets';
import { fixtureManifest, loadedLabStore, testLabStore } from './test-support';

const manifest = fixtureManifest();

/** Storage in memory, as IndexedDB would keep it: a structured copy per save. */
function memoryStorage(initial: StoredPromptSets | null = null) {
  let value = initial;
  let saves = 0;
  const storage: PromptSetStorage = {
    load: async () => (value ? structuredClone(value) : null),
    save: async (v) => {
      saves++;
      value = structuredClone(v);
    },
  };
  return { storage, read: () => value, saves: () => saves };
}

const setup = (storage?: PromptSetStorage) => testLabStore({ promptSetStorage: storage });
const ready = (storage?: PromptSetStorage) => loadedLabStore({ promptSetStorage: storage }, manifest);

/** Lets the storage's promise chains (read back once, then save) run. */
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

const file = (name: string, text: string, size = text.length): PromptFileInput => ({
  name,
  size,
  text: async () => text,
});

const JSONL = [
  '{"caption": "a painting of zephyr", "index": 3, "url": "https://x/1.jpg"}',
  '{"caption": "a painting of ember", "index": 4}',
  '{"caption": "cut off',
  '',
].join('\n');
const CSV = [
  'Caption;URL;type;mean_sscd;max_sscd;Index',
  'a small red circle at the left on a gray background;u;VM;0.1;0.2;1',
  'a large blue square at the top on a navy background;u;TM;0.1;0.2;2',
].join('\r\n');

describe('prompt sets in the store', () => {
  test("lists the model's own sets first, chosen by default, and imported sets after them, chosen", async () => {
    const { store } = await ready();
    expect(listedPromptSets(store.getState()).map((l) => l.set.label)).toEqual(['memorized', 'non-memorized']);
    expect(studySelectionOf(store.getState()).promptSets).toBeUndefined();

    await store.getState().importPromptFiles([file('wen.jsonl', JSONL)], { label: 'memorized' });
    const s = store.getState();
    const imports = s.promptSets.imports;
    expect(imports).toHaveLength(1);
    expect(imports[0].ok).toBe(true);
    expect(imports[0].report?.set.prompts.map((p) => p.caption)).toEqual([
      'a painting of zephyr',
      'a painting of ember',
    ]);
    expect(imports[0].report?.skipped).toEqual([
      expect.objectContaining({ line: 3, reason: expect.stringMatching(/not a valid JSON object/) }),
    ]);
    const list = listedPromptSets(s);
    expect(list.map((l) => [l.origin, l.set.name])).toEqual([
      ['model', `${manifest.id}: memorized captions`],
      ['model', `${manifest.id}: neutral prompts`],
      ['imported', 'wen'],
    ]);
    expect(s.promptSets.chosen).toContain(imports[0].setId);
    // now the jobs get plain sets: the own two and the imported one
    expect(studySelectionOf(s).promptSets?.map((p) => p.name)).toEqual(list.map((l) => l.set.name));
  });

  test('the study request carries the chosen sets; unchecking the own sets leaves only the imported ones', async () => {
    const { store, sent } = await ready();
    await store
      .getState()
      .importPromptFiles([file('wen.jsonl', JSONL), file('nemo.csv', CSV)], { label: 'memorized', format: undefined });
    const [wen, nemo] = store.getState().promptSets.imports;
    expect([wen.ok, nemo.ok, nemo.report?.format]).toEqual([true, true, 'nemo-csv']);
    store.getState().setPromptSetLabel(nemo.setId!, 'non-memorized');
    store.getState().choosePromptSet('model:memorized', false);
    store.getState().choosePromptSet('model:non-memorized', false);
    store.getState().runScience('study');
    const request = sent.at(-1);
    expect(request?.type).toBe('science');
    if (request?.type !== 'science' || request.job !== 'study') throw new Error('no study request');
    expect(request.params.promptSets?.map((s) => [s.name, s.label, s.prompts.length])).toEqual([
      ['wen', 'memorized', 2],
      ['nemo', 'non-memorized', 2],
    ]);
  });

  test('bad files get a message in plain words and add nothing; the good file of the same drop is still added', async () => {
    const { store } = await ready();
    const tenThousand = Array.from({ length: 10_000 }, (_, i) => `prompt number ${i}`).join('\n');
    const binary = `\u0089PNG\r\n\u001a\n${'\ufffd'.repeat(200)}IHDR`;
    await store
      .getState()
      .importPromptFiles(
        [
          file('empty.txt', ''),
          file('image.png', binary),
          file('huge.txt', 'x', MAX_PROMPT_FILE_BYTES + 1),
          file('commas.csv', 'Caption,URL,type\na cat,u,VM\n'),
          { name: 'gone.txt', size: 10, text: () => Promise.reject(new Error('NotReadableError')) },
          file('list.txt', tenThousand),
        ],
        { label: 'unlabelled' },
      );
    const imports = store.getState().promptSets.imports;
    expect(imports.map((i) => i.ok)).toEqual([false, false, false, false, false, true]);
    expect(imports[0].message).toMatch(/no prompts \(it is empty or blank\)/);
    expect(imports[1].message).toMatch(/not a text file/);
    expect(imports[2].message).toMatch(/too large for a list of prompts/);
    expect(imports[3].message).toMatch(/separates its columns with commas; NeMo's CSV uses semicolons/);
    expect(imports[4].message).toMatch(/could not be read/);
    expect(imports[4].detail).toBe('NotReadableError');
    expect(imports[5].report?.set.prompts).toHaveLength(10_000);
    const imported = store.getState().promptSets.imported;
    expect(imported.map((i) => i.set.name)).toEqual(['list']);
  });

  test('imported sets, their labels and the choice survive a reload; removing a set forgets it', async () => {
    const mem = memoryStorage();
    const first = await ready(mem.storage);
    await first.store.getState().importPromptFiles([file('wen.jsonl', JSONL)], { label: 'memorized' });
    await first.store.getState().importPromptFiles([file('plain.txt', 'one\ntwo\n')], { label: 'unlabelled' });
    const plainId = first.store.getState().promptSets.imports[0].setId!;
    first.store.getState().setPromptSetLabel(plainId, 'non-memorized');
    first.store.getState().choosePromptSet('model:memorized', false);
    await settled();
    expect(mem.read()?.imported.map((i) => [i.set.name, i.set.label])).toEqual([
      ['wen', 'memorized'],
      ['plain', 'non-memorized'],
    ]);

    const second = setup(mem.storage);
    await second.store.getState().restorePromptSets();
    const s = second.store.getState().promptSets;
    expect(s.imported.map((i) => [i.id, i.set.name, i.set.label, i.set.prompts.length])).toEqual([
      ['imported:1', 'wen', 'memorized', 2],
      ['imported:2', 'plain', 'non-memorized', 2],
    ]);
    expect(s.chosen.sort()).toEqual(['imported:1', 'imported:2', 'model:non-memorized']);
    // the next import does not reuse a stored id
    await second.store.getState().importPromptFiles([file('more.txt', 'three')], { label: 'unlabelled' });
    expect(second.store.getState().promptSets.imports[0].setId).toBe('imported:3');

    second.store.getState().removePromptSet('imported:1');
    await settled();
    expect(mem.read()?.imported.map((i) => i.id)).toEqual(['imported:2', 'imported:3']);
    expect(mem.read()?.chosen).not.toContain('imported:1');
  });

  test('a set imported while the stored ones are read keeps its place after them, under a fresh id', async () => {
    const mem = memoryStorage({
      imported: [
        {
          id: 'imported:1',
          set: { name: 'kept', label: 'memorized', prompts: [{ caption: 'a' }] },
          source: { file: 'kept.txt', format: 'plain-text', importedAt: 'then' },
        },
      ],
      chosen: ['imported:1'],
    });
    const { store } = setup(mem.storage);
    await store.getState().importPromptFiles([file('new.txt', 'b')], { label: 'unlabelled' });
    await store.getState().restorePromptSets();
    const s = store.getState().promptSets;
    expect(s.imported.map((i) => [i.id, i.set.name])).toEqual([
      ['imported:1', 'kept'],
      ['imported:2', 'new'],
    ]);
    expect(s.chosen).toEqual(['imported:1', 'imported:2']);
    expect(s.imports[0].setId).toBe('imported:2');
  });

  test('a stored record that does not read is dropped set by set, never trusted', () => {
    const good = {
      id: 'imported:4',
      set: { name: 'ok', label: 'memorized', prompts: [{ caption: 'a', index: 2 }] },
      source: { file: 'ok.txt', format: 'plain-text', importedAt: 'now' },
    };
    const stored = readStoredPromptSets({
      imported: [good, { ...good, id: 'x' }, { ...good, set: { ...good.set, label: 'copied' } }, 'junk'],
      chosen: ['imported:4', 7],
    });
    expect(stored).toEqual({ imported: [good], chosen: ['imported:4'] });
    expect(readStoredPromptSets(undefined)).toBeNull();
  });

  test('a storage that refuses to save says the sets will not survive a reload', async () => {
    const { store } = setup({
      load: async () => null,
      save: () => Promise.reject(new Error('QuotaExceededError')),
    });
    await store.getState().importPromptFiles([file('a.txt', 'a')], { label: 'memorized' });
    await settled();
    expect(store.getState().promptSets.storageProblem).toBe(
      'This browser did not keep the prompt sets (QuotaExceededError): they will be gone after a reload.',
    );
    expect(store.getState().promptSets.imported).toHaveLength(1);
  });
});
