/**
 * Records of a delimiter-separated file in the RFC 4180 dialect NeMo's prompt lists use: fields
 * separated by one character, a field in double quotes may hold the separator, line breaks and
 * doubled quotes ("" for ").
 *
 * Written here rather than taken from a CSV library (papaparse, csv-parse) because what a prompt
 * import needs is per-record recovery with the line each record starts on: a broken record (an
 * unclosed quote, text after a closing quote) is reported with its line number and reading goes on
 * at the next line, while the libraries either stop at the first error or report it by record
 * number after having swallowed the rest of the file into the open quote. The dialect itself is
 * forty lines; a library would add a dependency to the browser bundle for no gain.
 */

export type CsvRecord =
  | { line: number; fields: string[]; text: string }
  | { line: number; error: string; text: string };

/** A quoted field may span at most this many lines before it counts as never closed. */
export const MAX_QUOTED_LINES = 20;

/**
 * Reads `lines` (the file split at line breaks, BOM removed) from `start` as records. Blank lines
 * give no record. A record that fails is reported and reading resumes on the line after it starts.
 */
export function* csvRecords(lines: readonly string[], separator: string, start = 0): Generator<CsvRecord> {
  let i = start;
  while (i < lines.length) {
    if (lines[i].trim() === '') {
      i++;
      continue;
    }
    const r = readRecord(lines, i, separator);
    if ('error' in r) {
      yield { line: i + 1, error: r.error, text: lines[i] };
      i++;
    } else {
      yield { line: i + 1, fields: r.fields, text: lines.slice(i, i + r.used).join('\n') };
      i += r.used;
    }
  }
}

function readRecord(
  lines: readonly string[],
  first: number,
  sep: string,
): { fields: string[]; used: number } | { error: string } {
  const fields: string[] = [];
  let row = first;
  let s = lines[row];
  let p = 0;
  for (;;) {
    if (s[p] === '"') {
      // quoted field: runs to the next lone quote, across line breaks
      let value = '';
      p++;
      for (;;) {
        const q = s.indexOf('"', p);
        if (q < 0) {
          value += `${s.slice(p)}\n`;
          row++;
          if (row >= lines.length || row - first >= MAX_QUOTED_LINES)
            return { error: 'a quoted field opens with " and is never closed' };
          s = lines[row];
          p = 0;
          continue;
        }
        value += s.slice(p, q);
        if (s[q + 1] === '"') {
          value += '"';
          p = q + 2;
          continue;
        }
        p = q + 1;
        break;
      }
      fields.push(value);
      if (p === s.length) return { fields, used: row - first + 1 };
      if (s[p] !== sep) {
        // Past a line break, the quote that "closed" the field most likely opened a later record.
        return {
          error:
            row > first
              ? 'a quoted field opens with " and is not closed properly'
              : `text follows a closing quote without a "${sep}" before it`,
        };
      }
      p++;
    } else {
      const q = s.indexOf(sep, p);
      if (q < 0) {
        fields.push(s.slice(p));
        return { fields, used: row - first + 1 };
      }
      fields.push(s.slice(p, q));
      p = q + 1;
    }
    if (p === s.length) {
      fields.push('');
      return { fields, used: row - first + 1 };
    }
  }
}
