/**
 * Prompt sets: the lists of prompts a memorization study runs on. The field publishes them as
 * files (Wen et al.'s JSONL, NeMo's CSV, Ren et al.'s plain lists); the model's own memorized and
 * neutral prompts are prompt sets too, so every study takes the same shape of input.
 */

/** What the user says a set is: known copies, known non-copies, or a pool to search. */
export type PromptLabel = 'memorized' | 'non-memorized' | 'unlabelled';

export const PROMPT_LABELS: readonly PromptLabel[] = ['memorized', 'non-memorized', 'unlabelled'];

/** NeMo's memorization types: VM verbatim (one image), TM template (a layout with varying details). */
export type MemorizationKind = 'VM' | 'TM';

export interface PromptEntry {
  caption: string;
  /** the training-set index the publishers give (LAION index), or the model's image index */
  index?: number;
  /** where the training image came from */
  url?: string;
  kind?: MemorizationKind;
}

export interface PromptSet {
  name: string;
  label: PromptLabel;
  prompts: PromptEntry[];
}

export type PromptFormat = 'wen-jsonl' | 'nemo-csv' | 'plain-text';

export const PROMPT_FORMATS: Record<PromptFormat, { title: string; shape: string }> = {
  'wen-jsonl': {
    title: "Wen et al.'s JSONL",
    shape: 'one JSON object per line: {"caption": "...", "index": 123, "url": "..."}',
  },
  'nemo-csv': {
    title: "NeMo's CSV",
    shape: 'semicolon-separated with a header: Caption;URL;type;mean_sscd;max_sscd;Index (type VM or TM)',
  },
  'plain-text': { title: 'plain text', shape: 'one prompt per line' },
};

/** A line that gave no prompt, in words a reader understands; `detail` holds the parser's own message. */
export interface SkippedLine {
  /** 1-based line number in the file (a quoted CSV field may span lines: the line it starts on) */
  line: number;
  reason: string;
  detail?: string;
  /** the line's text, cut to 120 characters */
  text: string;
}

/** A line whose prompt was kept, with something worth knowing (an unreadable index dropped, ...). */
export interface LineNote {
  line: number;
  note: string;
}

export interface PromptParseReport {
  /** true when at least one prompt was read */
  ok: boolean;
  format: PromptFormat;
  /** how the format was chosen: 'asked for', or what in the file or its name decided it */
  formatReason: string;
  set: PromptSet;
  /** lines in the file, blank ones included */
  lines: number;
  blankLines: number;
  skipped: SkippedLine[];
  notes: LineNote[];
  /** captions that appear more than once (all copies are kept) */
  duplicateCaptions: number;
  /** one sentence: what was read, from what, and what was skipped */
  summary: string;
  /** when nothing could be read: why, in plain words, and what to do */
  error?: string;
}
