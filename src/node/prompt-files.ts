/** Prompt-list files for the CLIs: read, parsed (core/prompts), and described for stderr. */
import { readFile } from 'node:fs/promises';
import {
  type PromptFormat,
  type PromptLabel,
  PROMPT_LABELS,
  type PromptParseReport,
  type PromptSet,
  parsePromptFile,
} from '../core/prompts';

export interface PromptFileRequest {
  path: string;
  label: PromptLabel;
  format?: PromptFormat;
}

/** Pairs repeated --prompts and --label options in order; a message for what does not pair. */
export function pairPromptOptions(files: readonly string[], labels: readonly string[]): PromptFileRequest[] | string {
  if (files.length !== labels.length)
    return `give one --label (${PROMPT_LABELS.join(' | ')}) for each --prompts file: got ${files.length} files and ${labels.length} labels`;
  const bad = labels.find((l) => !PROMPT_LABELS.includes(l as PromptLabel));
  if (bad !== undefined) return `--label must be memorized, non-memorized or unlabelled, got "${bad}"`;
  return files.map((path, i) => ({ path, label: labels[i] as PromptLabel }));
}

export class PromptFileError extends Error {
  override name = 'PromptFileError';
}

/** Reads and parses each file; throws PromptFileError for a file that cannot be read or gives no prompt. */
export async function readPromptFiles(
  requests: readonly PromptFileRequest[],
): Promise<{ sets: PromptSet[]; reports: PromptParseReport[] }> {
  const reports: PromptParseReport[] = [];
  for (const r of requests) {
    let text: string;
    try {
      text = await readFile(r.path, 'utf8');
    } catch (e) {
      throw new PromptFileError(
        `cannot read the prompt file ${r.path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      );
    }
    const report = parsePromptFile(text, r.path, { label: r.label, format: r.format });
    if (!report.ok) throw new PromptFileError(report.summary);
    reports.push(report);
  }
  return { sets: reports.map((r) => r.set), reports };
}

/** The report as lines for a terminal: the summary, then each skipped line (at most `limit`). */
export function promptReportLines(report: PromptParseReport, limit = 10): string[] {
  const lines = [report.summary];
  for (const s of report.skipped.slice(0, limit))
    lines.push(`  line ${s.line}: ${s.reason}${s.detail ? ` (${s.detail})` : ''}`);
  if (report.skipped.length > limit) lines.push(`  ... and ${report.skipped.length - limit} more skipped lines`);
  return lines;
}
