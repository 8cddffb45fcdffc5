/**
 * Reference images: the training images a prompt set's generations are compared with to measure
 * replication. A user gives a folder of PNG/JPEG files; each file is matched to a prompt
 *
 *   by index      a file whose name is the prompt's index: 123.png, 000123.jpg
 *   by file name  a file named like the last part of the prompt's URL (…/abc.jpg -> abc.jpg, or
 *                 abc.png after a conversion)
 *   by position   for a set without any index (a plain list), the prompt's line position counted
 *                 from 0: 0.png is the first prompt
 *
 * Only names are matched here (pure); reading and decoding the files is the caller's.
 */
import type { PromptSet } from './types';

export type ReferenceRule = 'index' | 'file name' | 'position';

export interface ReferenceMatch {
  /** position of the prompt in the set */
  prompt: number;
  file: string;
  by: ReferenceRule;
}

export interface ReferenceMatching {
  matches: ReferenceMatch[];
  /** prompts without a reference image */
  unmatched: number[];
  /** image files no prompt claimed */
  unused: string[];
  /** files that are not PNG or JPEG */
  ignored: string[];
  /** prompts that several files fit: the first in name order was taken */
  ambiguous: { prompt: number; files: string[] }[];
  summary: string;
}

const IMAGE_FILE = /\.(png|jpe?g)$/i;

export function isReferenceImageName(name: string): boolean {
  return IMAGE_FILE.test(name);
}

const stem = (name: string) => name.replace(/\.[^.]+$/, '');

/** The last path part of a URL, without query or fragment, percent-decoded where possible. */
export function urlFileName(url: string): string | undefined {
  const path = url.split(/[?#]/)[0];
  const last = path.split('/').pop() ?? '';
  try {
    return decodeURIComponent(last) || undefined;
  } catch {
    return last || undefined;
  }
}

/** Matches files (names only, no folders) to the set's prompts. */
export function matchReferenceImages(set: PromptSet, fileNames: readonly string[]): ReferenceMatching {
  const images = fileNames.filter(isReferenceImageName).sort();
  const ignored = fileNames.filter((n) => !isReferenceImageName(n));
  const byNumber = new Map<number, string[]>();
  const byName = new Map<string, string[]>();
  const add = <K>(map: Map<K, string[]>, key: K, file: string) => {
    const list = map.get(key);
    if (list) list.push(file);
    else map.set(key, [file]);
  };
  for (const f of images) {
    const s = stem(f);
    if (/^\d+$/.test(s)) add(byNumber, Number(s), f);
    add(byName, f.toLowerCase(), f);
    add(byName, s.toLowerCase(), f);
  }
  const hasIndex = set.prompts.some((p) => p.index !== undefined);
  const used = new Set<string>();
  const matches: ReferenceMatch[] = [];
  const unmatched: number[] = [];
  const ambiguous: ReferenceMatching['ambiguous'] = [];
  set.prompts.forEach((p, i) => {
    let found: { files: string[]; by: ReferenceRule } | undefined;
    if (p.index !== undefined && byNumber.has(p.index)) found = { files: byNumber.get(p.index)!, by: 'index' };
    if (!found && p.url) {
      const name = urlFileName(p.url)?.toLowerCase();
      const files = name ? (byName.get(name) ?? byName.get(stem(name))) : undefined;
      if (files) found = { files, by: 'file name' };
    }
    if (!found && !hasIndex && byNumber.has(i)) found = { files: byNumber.get(i)!, by: 'position' };
    if (!found) {
      unmatched.push(i);
      return;
    }
    if (found.files.length > 1) ambiguous.push({ prompt: i, files: found.files });
    matches.push({ prompt: i, file: found.files[0], by: found.by });
    used.add(found.files[0]);
  });
  const unused = images.filter((f) => !used.has(f));
  const result = { matches, unmatched, unused, ignored, ambiguous, summary: '' };
  result.summary = summarizeMatching(set, result);
  return result;
}

function summarizeMatching(set: PromptSet, m: Omit<ReferenceMatching, 'summary'>): string {
  const n = set.prompts.length;
  if (m.matches.length === 0) {
    return `No reference image matches a prompt of "${set.name}". ${REFERENCE_NAMING}`;
  }
  const parts = [`${m.matches.length} of ${n} prompts of "${set.name}" have a reference image`];
  if (m.unused.length) parts.push(`${m.unused.length} image${m.unused.length === 1 ? '' : 's'} matched no prompt`);
  if (m.ignored.length)
    parts.push(`${m.ignored.length} file${m.ignored.length === 1 ? ' is' : 's are'} not PNG or JPEG`);
  if (m.ambiguous.length)
    parts.push(
      `${m.ambiguous.length} prompt${m.ambiguous.length === 1 ? '' : 's'} fit several files (the first by name was used)`,
    );
  return `${parts.join('; ')}.`;
}

/** How to name reference files, for messages. */
export const REFERENCE_NAMING =
  "Name each PNG or JPEG file by the prompt's index (123.png), by the file name at the end of its URL, or, for a list without indexes, by its position counting from 0 (0.png is the first prompt).";

/** What replication needs, in words; null when the set has references to measure it. */
export function replicationNeedsReferences(matching: ReferenceMatching | null | undefined): string | null {
  if (matching && matching.matches.length > 0) return null;
  return `Replication needs reference images (the training images the prompts may copy). ${REFERENCE_NAMING} Without them the lab measures what needs no images: the noise gap, seed consistency, attention statistics and the change a mask makes.`;
}
