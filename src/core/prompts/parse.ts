/**
 * Reading the prompt lists the field publishes into prompt sets, with a report of every line that
 * gave no prompt and why. One entry point for the CLI and the lab's import:
 *
 *   parsePromptFile(text, 'sdv1_500_memorized.jsonl', { label: 'memorized' })
 *
 * The format is taken from the option when given, else from the file's content (a first line that
 * is a JSON object; a header naming a caption column), else from its name; plain text otherwise.
 * A file that fits no format, or gives no prompt at all, comes back with `ok: false` and an `error`
 * that says what is wrong and what to do, never an exception.
 */
import { csvRecords } from './csv';
import {
  type LineNote,
  type MemorizationKind,
  PROMPT_FORMATS,
  type PromptEntry,
  type PromptFormat,
  type PromptLabel,
  type PromptParseReport,
  type SkippedLine,
} from './types';

export interface ParseOptions {
  /** skip detection and read the file as this format */
  format?: PromptFormat;
  /** default 'unlabelled' */
  label?: PromptLabel;
  /** default: the file name without its extension */
  name?: string;
}

/** A caption longer than this is not a prompt (a pasted paragraph, a binary file read as text). */
export const MAX_CAPTION_CHARS = 2000;

const NEMO_COLUMNS = ['Caption', 'URL', 'type', 'mean_sscd', 'max_sscd', 'Index'];

export function parsePromptFile(text: string, filename: string, options: ParseOptions = {}): PromptParseReport {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const lines = body.split(/\r\n|\n|\r/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const name = options.name ?? baseName(filename).replace(/\.[^.]+$/, '');
  const label = options.label ?? 'unlabelled';
  const chosen = options.format ? { format: options.format, reason: 'asked for' } : detectPromptFormat(lines, filename);
  const out: Parsed = { prompts: [], skipped: [], notes: [] };
  let error: string | undefined;
  if (body.includes('\u0000')) {
    error = 'This is not a text file (it contains binary data). Choose a .jsonl, .csv or .txt list of prompts.';
  } else if (chosen.format === 'wen-jsonl') {
    error = readWenJsonl(lines, out);
  } else if (chosen.format === 'nemo-csv') {
    error = readNemoCsv(lines, out);
  } else {
    error = readPlainText(lines, out);
  }
  const format = chosen.format;
  const blankLines = lines.filter((l) => l.trim() === '').length;
  if (!error && out.prompts.length === 0) {
    error =
      out.skipped.length > 0
        ? `No prompt could be read: all ${out.skipped.length} non-blank lines were skipped (see the list). Expected ${PROMPT_FORMATS[format].title}: ${PROMPT_FORMATS[format].shape}.`
        : 'The file has no prompts (it is empty or blank).';
  }
  const seen = new Set<string>();
  let duplicateCaptions = 0;
  for (const p of out.prompts) {
    if (seen.has(p.caption)) duplicateCaptions++;
    seen.add(p.caption);
  }
  const report: PromptParseReport = {
    ok: !error,
    format,
    formatReason: chosen.reason,
    set: { name, label, prompts: error ? [] : out.prompts },
    lines: lines.length,
    blankLines,
    skipped: out.skipped,
    notes: out.notes,
    duplicateCaptions,
    summary: '',
    ...(error ? { error } : {}),
  };
  report.summary = summarize(report, filename);
  return report;
}

/** Which format a file is in, and why: content first (it cannot lie), then the file name. */
export function detectPromptFormat(
  lines: readonly string[],
  filename: string,
): { format: PromptFormat; reason: string } {
  const first = lines.find((l) => l.trim() !== '')?.trim() ?? '';
  if (first.startsWith('{')) return { format: 'wen-jsonl', reason: 'the first line is a JSON object' };
  if (first.startsWith('[')) return { format: 'wen-jsonl', reason: 'the file starts with a JSON array' };
  if (/^"?caption"?\s*[;,\t]/i.test(first))
    return { format: 'nemo-csv', reason: 'the first line is a header naming a Caption column' };
  const ext = /\.([^./\\]+)$/.exec(filename)?.[1].toLowerCase();
  if (ext === 'jsonl' || ext === 'ndjson') return { format: 'wen-jsonl', reason: `the file name ends in .${ext}` };
  if (ext === 'csv') return { format: 'nemo-csv', reason: 'the file name ends in .csv' };
  return { format: 'plain-text', reason: ext === 'txt' ? 'the file name ends in .txt' : 'no other format fits' };
}

interface Parsed {
  prompts: PromptEntry[];
  skipped: SkippedLine[];
  notes: LineNote[];
}

const cut = (s: string) => (s.length > 120 ? `${s.slice(0, 117)}...` : s);

function skip(out: Parsed, line: number, text: string, reason: string, detail?: string): void {
  out.skipped.push({ line, reason, text: cut(text), ...(detail ? { detail } : {}) });
}

/** A caption as given, trimmed; a reason when it cannot be a prompt. */
function checkCaption(raw: string): { caption: string } | { reason: string } {
  const caption = raw.trim();
  if (caption === '') return { reason: 'the caption is empty' };
  if (caption.length > MAX_CAPTION_CHARS)
    return { reason: `the caption is longer than ${MAX_CAPTION_CHARS.toLocaleString('en')} characters` };
  return { caption };
}

/** A whole number from a JSON number or numeric string; undefined for anything else. */
function indexOf(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function readWenJsonl(lines: readonly string[], out: Parsed): string | undefined {
  const whole = lines.join('\n').trim();
  if (whole.startsWith('[')) {
    return 'This is a JSON array, not JSON Lines. Wen et al.\'s format has one {"caption": ...} object on each line, with no [ ] around them and no commas between lines.';
  }
  lines.forEach((text, i) => {
    const line = i + 1;
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      skip(out, line, text, 'not a valid JSON object (cut off, or a stray character)', (e as Error).message);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      skip(out, line, text, 'a JSON value but not an object with a "caption"');
      return;
    }
    const record = value as Record<string, unknown>;
    const key = ['caption', 'prompt', 'text'].find((k) => typeof record[k] === 'string');
    if (!key) {
      const keys = Object.keys(record);
      skip(
        out,
        line,
        text,
        'no "caption" text in this object',
        keys.length ? `keys found: ${keys.join(', ')}` : 'the object is empty',
      );
      return;
    }
    const checked = checkCaption(record[key] as string);
    if ('reason' in checked) {
      skip(out, line, text, checked.reason);
      return;
    }
    const entry: PromptEntry = { caption: checked.caption };
    if (key !== 'caption') out.notes.push({ line, note: `caption read from "${key}"` });
    if (record.index !== undefined && record.index !== null) {
      const index = indexOf(record.index);
      if (index === undefined)
        out.notes.push({ line, note: `index ${JSON.stringify(record.index)} is not a whole number: left out` });
      else entry.index = index;
    }
    if (typeof record.url === 'string' && record.url.trim() !== '') entry.url = record.url.trim();
    out.prompts.push(entry);
  });
  return undefined;
}

function readNemoCsv(lines: readonly string[], out: Parsed): string | undefined {
  const headerAt = lines.findIndex((l) => l.trim() !== '');
  if (headerAt < 0) return undefined;
  const header = lines[headerAt];
  const separators = [
    { char: ';', name: 'semicolons' },
    { char: ',', name: 'commas' },
    { char: '\t', name: 'tabs' },
  ];
  const fieldsWith = (sep: string) => [...csvRecords([header], sep)][0];
  const columnsBy = separators.map((s) => {
    const r = fieldsWith(s.char);
    return { ...s, names: 'fields' in r ? r.fields.map((f) => f.trim().toLowerCase()) : [] };
  });
  const semi = columnsBy[0];
  const hasHeader = semi.names.includes('caption');
  if (!hasHeader) {
    const other = columnsBy.slice(1).find((c) => c.names.includes('caption') && c.names.length > 1);
    if (other) {
      return `This file separates its columns with ${other.name}; NeMo's CSV uses semicolons (${NEMO_COLUMNS.join(';')}). Save it again with ";" as the separator, or import a plain text file with one prompt per line.`;
    }
    if (!header.includes(';') && columnsBy.slice(1).some((c) => c.names.length >= 3)) {
      const c = columnsBy.slice(1).find((x) => x.names.length >= 3)!;
      return `This file has no Caption header and separates its columns with ${c.name}; NeMo's CSV is semicolon-separated with the header ${NEMO_COLUMNS.join(';')}.`;
    }
  }
  if (!hasHeader && !header.includes(';')) {
    return `The first line has no Caption header and no semicolons, so this is not NeMo's CSV (${NEMO_COLUMNS.join(';')}). If the file lists one prompt per line, read it as plain text.`;
  }
  // Without a header the columns are NeMo's, in NeMo's order.
  const names = hasHeader ? semi.names : NEMO_COLUMNS.map((n) => n.toLowerCase());
  if (!hasHeader)
    out.notes.push({ line: headerAt + 1, note: `no header line: columns read as ${NEMO_COLUMNS.join(';')}` });
  const col = (n: string) => names.indexOf(n);
  const at = { caption: col('caption'), url: col('url'), type: col('type'), index: col('index') };
  for (const r of csvRecords(lines, ';', hasHeader ? headerAt + 1 : headerAt)) {
    if ('error' in r) {
      skip(out, r.line, r.text, r.error);
      continue;
    }
    const f = r.fields;
    if (f.length !== names.length) {
      const hint =
        f.length < names.length && /[,\t]/.test(r.text)
          ? ' (commas or tabs where semicolons belong?)'
          : f.length > names.length
            ? ' (a semicolon inside a caption that is not in quotes?)'
            : '';
      skip(out, r.line, r.text, `${f.length} fields where the header has ${names.length}${hint}`);
      continue;
    }
    const checked = checkCaption(f[at.caption]);
    if ('reason' in checked) {
      skip(out, r.line, r.text, checked.reason);
      continue;
    }
    const entry: PromptEntry = { caption: checked.caption };
    if (at.url >= 0 && f[at.url].trim() !== '') entry.url = f[at.url].trim();
    if (at.type >= 0) {
      const type = f[at.type].trim().toUpperCase();
      if (type === 'VM' || type === 'TM') entry.kind = type as MemorizationKind;
      else if (type !== '')
        out.notes.push({ line: r.line, note: `type "${f[at.type].trim()}" is neither VM nor TM: left out` });
    }
    if (at.index >= 0 && f[at.index].trim() !== '') {
      const index = indexOf(f[at.index]);
      if (index === undefined)
        out.notes.push({ line: r.line, note: `Index "${f[at.index].trim()}" is not a whole number: left out` });
      else entry.index = index;
    }
    out.prompts.push(entry);
  }
  return undefined;
}

function readPlainText(lines: readonly string[], out: Parsed): string | undefined {
  lines.forEach((text, i) => {
    if (text.trim() === '') return;
    const checked = checkCaption(text);
    if ('reason' in checked) skip(out, i + 1, text, checked.reason);
    else out.prompts.push({ caption: checked.caption });
  });
  return undefined;
}

function baseName(path: string): string {
  return path.split(/[\\/]/).pop() ?? path;
}

function summarize(r: PromptParseReport, filename: string): string {
  const what = `${PROMPT_FORMATS[r.format].title} (${r.formatReason})`;
  if (r.error) return `Could not read prompts from ${baseName(filename)} as ${what}: ${r.error}`;
  const n = r.set.prompts.length;
  const parts = [
    `Read ${n.toLocaleString('en')} ${r.set.label} prompt${n === 1 ? '' : 's'} from ${baseName(filename)} as ${what}`,
  ];
  if (r.skipped.length) parts.push(`skipped ${r.skipped.length} line${r.skipped.length === 1 ? '' : 's'}`);
  if (r.notes.length) parts.push(`${r.notes.length} note${r.notes.length === 1 ? '' : 's'}`);
  if (r.duplicateCaptions)
    parts.push(`${r.duplicateCaptions} repeated caption${r.duplicateCaptions === 1 ? '' : 's'} kept`);
  return `${parts.join('; ')}.`;
}
