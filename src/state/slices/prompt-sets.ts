/**
 * The prompt-sets slice: the sets a study chooses from. The model's own sets come from its manifest
 * (never stored); the imported ones (Wen et al.'s JSONL, NeMo's CSV, plain lists) are parsed by
 * core/prompts, kept in this browser (deps.promptSetStorage: IndexedDB in the lab) and listed after
 * them. Which sets a study uses is a list of ids; the science slice turns it into plain PromptSet
 * lists for the jobs (studySelectionOf).
 *
 * Reference images (the training images memorized prompts may copy) are held for this page only,
 * as the files the user picked: never stored, read again and sent to the worker for each evaluation.
 */
import {
  DEFAULT_CHOSEN_SETS,
  type ImportedPromptSet,
  type ListedPromptSet,
  type PromptFormat,
  type PromptLabel,
  type PromptParseReport,
  type StudySelection,
  parsePromptFile,
  promptSetList,
  promptSetsOfManifest,
  studySelection,
} from '../../core/prompts';
import { imageFileKind } from '../../core/image-files';
import type { ReferenceFiles } from '../../core/jobs/evaluate';
import { type ReferenceRule, isReferenceImageName, matchReferenceImages } from '../../core/prompts/references';
import type { PromptSet } from '../../core/prompts/types';
import type { LabState } from '../store';
import type { SliceCreator } from './slice';

/** What the lab keeps in this browser: the imported sets and the choice. */
export interface StoredPromptSets {
  imported: ImportedPromptSet[];
  chosen: string[];
}

/** Where imported sets survive a reload; load gives null when nothing was stored. */
export interface PromptSetStorage {
  load(): Promise<StoredPromptSets | null>;
  save(value: StoredPromptSets): Promise<void>;
}

/** A file to import: a browser File fits, and so does a test's object. */
export interface PromptFileInput {
  name: string;
  size: number;
  text(): Promise<string>;
}

/** A reference image file: a browser File fits, and so does a test's object. */
export interface ReferenceFileInput {
  name: string;
  size: number;
  lastModified?: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/** The outcome of importing one file, as the panel shows it. */
export interface PromptImport {
  file: string;
  ok: boolean;
  /** one or two sentences a teacher understands */
  message: string;
  /** technical detail behind a disclosure */
  detail?: string;
  /** the parser's report (counts, skipped lines with reasons), when the file could be read */
  report?: PromptParseReport;
  /** the set it added */
  setId?: string;
}

export interface PromptSetsState {
  imported: ImportedPromptSet[];
  /** ids of the sets the study and the jobs that take prompts use */
  chosen: string[];
  /** the latest import, one entry per file */
  imports: PromptImport[];
  importing: boolean;
  nextImportId: number;
  /** when this browser could not keep or give back the sets: why, in plain words */
  storageProblem?: string;
  /** reference images picked on this page (kept in memory only, never stored) */
  references: ReferenceFileInput[];
  /** picked files that are images by name but could not be read as PNG or JPEG, with why */
  unreadableReferences: { file: string; reason: string }[];
  readingReferences: boolean;
}

export interface PromptSetsData {
  promptSets: PromptSetsState;
}

export interface PromptSetsActions {
  /** parse each file and add the ones that gave prompts (chosen for studies) */
  importPromptFiles(
    files: readonly PromptFileInput[],
    options: { label: PromptLabel; format?: PromptFormat },
  ): Promise<void>;
  removePromptSet(id: string): void;
  /** use the set in studies, or not */
  choosePromptSet(id: string, chosen: boolean): void;
  /** relabel an imported set (the model's own keep theirs) */
  setPromptSetLabel(id: string, label: PromptLabel): void;
  /** hold these reference images for this page (replacing any held), noting the unreadable ones */
  setReferenceImages(files: readonly ReferenceFileInput[]): Promise<void>;
  clearReferenceImages(): void;
  /** bring back the sets kept in this browser (once, at start) */
  restorePromptSets(): Promise<void>;
}

export type PromptSetsSlice = PromptSetsData & PromptSetsActions;

/** Larger than any published prompt list by far (Wen et al.'s 500 prompts are about 100 kB). */
export const MAX_PROMPT_FILE_BYTES = 20 * 1024 * 1024;

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Text decoded from a binary file is full of U+FFFD (bytes that are not UTF-8). */
function looksBinary(text: string): boolean {
  let bad = 0;
  const n = Math.min(text.length, 65_536);
  for (let i = 0; i < n; i++) if (text.charCodeAt(i) === 0xfffd) bad++;
  return n > 0 && bad / n > 0.01;
}

/** The model's own sets, then the imported ones. */
export function listedPromptSets(state: Pick<LabState, 'manifest' | 'promptSets'>): ListedPromptSet[] {
  return promptSetList(state.manifest ? promptSetsOfManifest(state.manifest) : [], state.promptSets.imported);
}

/** What the jobs that take prompts run on now. */
export function studySelectionOf(state: Pick<LabState, 'manifest' | 'promptSets'>): StudySelection {
  return studySelection(listedPromptSets(state), state.promptSets.chosen);
}

export const emptyPromptSets = (): PromptSetsState => ({
  imported: [],
  chosen: [...DEFAULT_CHOSEN_SETS],
  imports: [],
  importing: false,
  nextImportId: 1,
  references: [],
  unreadableReferences: [],
  readingReferences: false,
});

/** The reference images matched to the ticked memorized sets. */
export interface ReferenceSelection {
  /** memorized caption -> file (a caption in several sets takes the first set's match) */
  matches: { caption: string; file: string; by: ReferenceRule }[];
  /** distinct memorized prompts of the ticked sets */
  memorized: number;
  byRule: Record<ReferenceRule, number>;
  /** one line per memorized set (matchReferenceImages' summary) */
  summaries: string[];
  /** the one-line report */
  summary: string;
}

/**
 * Matches the readable reference files to the memorized sets (prompts/references.ts): by index,
 * URL file name or position. Unreadable files take part in no match.
 */
export function referenceSelection(
  sets: readonly PromptSet[],
  fileNames: readonly string[],
  unreadable: readonly { file: string }[] = [],
): ReferenceSelection {
  const bad = new Set(unreadable.map((u) => u.file));
  const names = fileNames.filter((n) => !bad.has(n));
  const byRule: Record<ReferenceRule, number> = { index: 0, 'file name': 0, position: 0 };
  const captions = new Set<string>();
  const matched = new Map<string, { caption: string; file: string; by: ReferenceRule }>();
  const summaries: string[] = [];
  for (const set of sets) {
    if (set.label !== 'memorized') continue;
    for (const p of set.prompts) captions.add(p.caption);
    if (names.length === 0) continue;
    const m = matchReferenceImages(set, names);
    summaries.push(m.summary);
    for (const x of m.matches) {
      const caption = set.prompts[x.prompt].caption;
      if (matched.has(caption)) continue;
      matched.set(caption, { caption, file: x.file, by: x.by });
      byRule[x.by]++;
    }
  }
  const rules = (Object.entries(byRule) as [ReferenceRule, number][])
    .filter(([, n]) => n > 0)
    .map(([rule, n]) => `${n} by ${rule}`)
    .join(', ');
  const summary =
    captions.size === 0
      ? 'Tick a memorized prompt set: reference images are matched to memorized prompts.'
      : `${matched.size} of ${captions.size} memorized prompt${captions.size === 1 ? '' : 's'} ${matched.size === 1 ? 'has' : 'have'} a reference image${rules ? ` (matched ${rules})` : ''}.`;
  return { matches: [...matched.values()], memorized: captions.size, byRule, summaries, summary };
}

/** The held references matched to the ticked sets. */
export function referenceSelectionOf(state: Pick<LabState, 'manifest' | 'promptSets'>): ReferenceSelection {
  const chosen = listedPromptSets(state).filter((l) => state.promptSets.chosen.includes(l.id));
  const s = state.promptSets;
  return referenceSelection(
    chosen.map((l) => l.set),
    s.references.map((f) => f.name),
    s.unreadableReferences,
  );
}

/**
 * The matched files read afresh for one evaluation (their buffers are transferred to the worker);
 * null when no memorized prompt has a reference. A file that fails to read now is listed unreadable.
 */
export async function readReferenceFiles(
  state: Pick<LabState, 'manifest' | 'promptSets'>,
): Promise<ReferenceFiles | null> {
  const selection = referenceSelectionOf(state);
  if (selection.matches.length === 0) return null;
  const wanted = new Set(selection.matches.map((m) => m.file));
  const held = state.promptSets.references.filter((f) => wanted.has(f.name));
  const files: ReferenceFiles['files'] = [];
  const unreadable = [...state.promptSets.unreadableReferences];
  for (const f of held) {
    try {
      files.push({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) });
    } catch (e) {
      unreadable.push({
        file: f.name,
        reason: `could not be read again (${e instanceof Error ? e.message : String(e)})`,
      });
    }
  }
  return {
    files,
    matches: selection.matches,
    summaries: selection.summaries,
    unreadable,
    fingerprint: held.map((f) => `${f.name}:${f.size}:${f.lastModified ?? 0}`).join('|'),
  };
}

export const createPromptSetsSlice: SliceCreator<PromptSetsSlice> = (deps) => (set, get) => {
  const update = (patch: Partial<PromptSetsState>) => set({ promptSets: { ...get().promptSets, ...patch } });
  // The stored sets are read once; a save waits for that, so it never overwrites sets not yet read back.
  let restoring: Promise<void> | null = null;
  const restoreOnce = () => {
    restoring ??= restore();
    return restoring;
  };
  const save = () => {
    const storage = deps.promptSetStorage;
    if (!storage) return;
    void restoreOnce()
      .then(() => {
        const { imported, chosen } = get().promptSets;
        return storage.save({ imported, chosen });
      })
      .then(
        () => get().promptSets.storageProblem && update({ storageProblem: undefined }),
        (e: unknown) =>
          update({
            storageProblem: `This browser did not keep the prompt sets (${e instanceof Error ? e.message : String(e)}): they will be gone after a reload.`,
          }),
      );
  };

  async function importOne(
    file: PromptFileInput,
    options: { label: PromptLabel; format?: PromptFormat },
  ): Promise<PromptImport> {
    const fail = (message: string, detail?: string, report?: PromptParseReport): PromptImport => ({
      file: file.name,
      ok: false,
      message,
      ...(detail ? { detail } : {}),
      ...(report ? { report } : {}),
    });
    if (file.size > MAX_PROMPT_FILE_BYTES)
      return fail(
        `${file.name} is ${megabytes(file.size)}, too large for a list of prompts (at most ${megabytes(MAX_PROMPT_FILE_BYTES)}). Keep only the prompts you need, or split the file.`,
        `${file.size} bytes`,
      );
    let text: string;
    try {
      text = await file.text();
    } catch (e) {
      return fail(
        `${file.name} could not be read. It may have been moved or deleted; choose it again.`,
        e instanceof Error ? e.message : String(e),
      );
    }
    if (looksBinary(text))
      return fail(
        `${file.name} is not a text file (it looks like an image or other binary data). Choose a .jsonl, .csv or .txt list of prompts.`,
        'more than 1% of its characters are not valid UTF-8',
      );
    let report: PromptParseReport;
    try {
      report = parsePromptFile(text, file.name, options);
    } catch (e) {
      return fail(
        `${file.name} could not be read as a list of prompts.`,
        e instanceof Error ? (e.stack ?? e.message) : String(e),
      );
    }
    if (!report.ok) return fail(report.error ?? 'No prompt could be read.', report.summary, report);
    const s = get().promptSets;
    const id = `imported:${s.nextImportId}`;
    const entry: ImportedPromptSet = {
      id,
      set: report.set,
      source: { file: file.name, format: report.format, importedAt: new Date().toISOString() },
    };
    update({ imported: [...s.imported, entry], chosen: [...s.chosen, id], nextImportId: s.nextImportId + 1 });
    return { file: file.name, ok: true, message: report.summary, report, setId: id };
  }

  return {
    promptSets: emptyPromptSets(),

    async importPromptFiles(files, options) {
      if (files.length === 0) return;
      update({ importing: true, imports: [] });
      const imports: PromptImport[] = [];
      for (const file of files) imports.push(await importOne(file, options));
      update({ importing: false, imports });
      if (imports.some((i) => i.ok)) save();
    },

    removePromptSet(id) {
      const s = get().promptSets;
      if (!s.imported.some((i) => i.id === id)) return;
      update({
        imported: s.imported.filter((i) => i.id !== id),
        chosen: s.chosen.filter((c) => c !== id),
        imports: s.imports.filter((i) => i.setId !== id),
      });
      save();
    },

    choosePromptSet(id, chosen) {
      const s = get().promptSets;
      const has = s.chosen.includes(id);
      if (has === chosen) return;
      update({ chosen: chosen ? [...s.chosen, id] : s.chosen.filter((c) => c !== id) });
      save();
    },

    setPromptSetLabel(id, label) {
      const s = get().promptSets;
      if (!s.imported.some((i) => i.id === id && i.set.label !== label)) return;
      update({ imported: s.imported.map((i) => (i.id === id ? { ...i, set: { ...i.set, label } } : i)) });
      save();
    },

    async setReferenceImages(files) {
      update({ readingReferences: true });
      // Files with the same name (a folder and its subfolders): the first is kept.
      const byName = new Map<string, ReferenceFileInput>();
      for (const f of files) if (!byName.has(f.name)) byName.set(f.name, f);
      const unreadable: PromptSetsState['unreadableReferences'] = [];
      for (const f of byName.values()) {
        if (!isReferenceImageName(f.name)) continue;
        try {
          if (imageFileKind(new Uint8Array(await f.arrayBuffer())) === null)
            unreadable.push({ file: f.name, reason: 'not a PNG or JPEG image (its first bytes say otherwise)' });
        } catch (e) {
          unreadable.push({
            file: f.name,
            reason: `could not be read (${e instanceof Error ? e.message : String(e)})`,
          });
        }
      }
      update({ references: [...byName.values()], unreadableReferences: unreadable, readingReferences: false });
    },

    clearReferenceImages() {
      update({ references: [], unreadableReferences: [] });
    },

    restorePromptSets: restoreOnce,
  };

  async function restore(): Promise<void> {
    const storage = deps.promptSetStorage;
    if (!storage) return;
    let stored: StoredPromptSets | null;
    try {
      stored = await storage.load();
    } catch (e) {
      update({
        storageProblem: `The prompt sets kept in this browser could not be read back (${e instanceof Error ? e.message : String(e)}).`,
      });
      return;
    }
    if (!stored) return;
    // Sets imported while the stored ones were read stay, after them (renumbered past the stored ids).
    const s = get().promptSets;
    let next = Math.max(s.nextImportId, ...stored.imported.map((i) => (Number(i.id.split(':')[1]) || 0) + 1));
    const renamed = new Map<string, string>();
    const fresh = s.imported.map((i) => {
      const id = `imported:${next++}`;
      renamed.set(i.id, id);
      return { ...i, id };
    });
    const imported = [...stored.imported, ...fresh];
    const known = new Set([...imported.map((i) => i.id), ...DEFAULT_CHOSEN_SETS]);
    const chosen = [
      ...new Set([...stored.chosen, ...s.chosen.filter((c) => renamed.has(c)).map((c) => renamed.get(c)!)]),
    ].filter((c) => known.has(c));
    update({
      imported,
      chosen,
      nextImportId: next,
      imports: s.imports.map((i) => (i.setId && renamed.has(i.setId) ? { ...i, setId: renamed.get(i.setId) } : i)),
    });
  }
};
