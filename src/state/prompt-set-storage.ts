/**
 * Imported prompt sets kept in this browser (IndexedDB through idb-keyval), so they survive a
 * reload. What comes back is checked: a record written by an older lab, or damaged, is dropped
 * set by set rather than trusted.
 */
import { createStore, get, set, type UseStore } from 'idb-keyval';
import { z } from 'zod';
import { PROMPT_LABELS, type ImportedPromptSet } from '../core/prompts';
import type { PromptSetStorage, StoredPromptSets } from './slices/prompt-sets';

const KEY = 'prompt-sets/1';

const entrySchema = z.object({
  caption: z.string().min(1),
  index: z.number().int().nonnegative().optional(),
  url: z.string().optional(),
  kind: z.enum(['VM', 'TM']).optional(),
});

const importedSchema = z.object({
  id: z.string().regex(/^imported:\d+$/),
  set: z.object({
    name: z.string(),
    label: z.enum(PROMPT_LABELS as [string, ...string[]]),
    prompts: z.array(entrySchema).min(1),
  }),
  source: z.object({
    file: z.string(),
    format: z.enum(['wen-jsonl', 'nemo-csv', 'plain-text']),
    importedAt: z.string(),
  }),
});

/** The stored value as the slice takes it, keeping every set that reads; null when nothing usable is there. */
export function readStoredPromptSets(value: unknown): StoredPromptSets | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as { imported?: unknown; chosen?: unknown };
  const imported = (Array.isArray(v.imported) ? v.imported : [])
    .map((i) => importedSchema.safeParse(i))
    .filter((r) => r.success)
    .map((r) => r.data as ImportedPromptSet);
  const chosen = Array.isArray(v.chosen) ? v.chosen.filter((c): c is string => typeof c === 'string') : [];
  return { imported, chosen };
}

/** IndexedDB in the page; null where there is none (the sets then last until the page closes). */
export function browserPromptSetStorage(): PromptSetStorage | null {
  let store: UseStore;
  try {
    if (typeof indexedDB === 'undefined') return null;
    store = createStore('memlab-prompt-sets', 'sets');
  } catch {
    return null;
  }
  return {
    load: async () => readStoredPromptSets(await get(KEY, store)),
    save: (value) => set(KEY, value, store),
  };
}
