/**
 * JSON as diffusers writes it. Python's json.dumps emits the bare words NaN, Infinity and
 * -Infinity for non-finite floats (DPMSolverMultistepScheduler's "lambda_min_clipped": -Infinity),
 * which strict JSON.parse rejects. This reader accepts exactly those three words outside strings
 * and is strict JSON otherwise, so a broken file still fails with the parser's own message.
 *
 * Written here rather than taken from JSON5: JSON5 accepts far more (comments, single quotes,
 * trailing commas) and would hide a damaged config, and the difference is three words.
 */

const SPECIAL: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY };

/** Where a bare NaN / Infinity / -Infinity token starts outside a string, with its value. */
function findSpecials(text: string): { start: number; end: number; value: number }[] {
  const found: { start: number; end: number; value: number }[] = [];
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') {
      inString = true;
      continue;
    }
    for (const word of ['NaN', 'Infinity', '-Infinity']) {
      if (!text.startsWith(word, i)) continue;
      // a whole token only: not part of a longer identifier
      const after = text[i + word.length];
      if (after !== undefined && /[\w$]/.test(after)) continue;
      const value = word === '-Infinity' ? Number.NEGATIVE_INFINITY : SPECIAL[word];
      found.push({ start: i, end: i + word.length, value });
      i += word.length - 1;
      break;
    }
  }
  return found;
}

/** Every string value in a parsed JSON document. */
function stringValues(value: unknown, out: string[]): string[] {
  if (typeof value === 'string') out.push(value);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) stringValues(v, out);
  return out;
}

/** JSON.parse that also reads Python's NaN, Infinity and -Infinity (see the header). */
export function parseLenientJson(text: string): unknown {
  const specials = findSpecials(text);
  if (specials.length === 0) return JSON.parse(text);
  const substitute = (placeholder: (k: number) => string) => {
    let out = '';
    let last = 0;
    specials.forEach((s, k) => {
      out += text.slice(last, s.start) + placeholder(k);
      last = s.end;
    });
    return out + text.slice(last);
  };
  // Parse once with null in their place (this also reports any other syntax error), pick a
  // placeholder prefix that no string of the document starts with, then parse with placeholders.
  const strings = stringValues(JSON.parse(substitute(() => 'null')), []);
  let nonce = 0;
  while (strings.some((s) => s.startsWith(`\u0000nonfinite${nonce}:`))) nonce++;
  const tag = `\u0000nonfinite${nonce}:`;
  return JSON.parse(
    substitute((k) => JSON.stringify(tag + k)),
    (_key, value) =>
      typeof value === 'string' && value.startsWith(tag) ? specials[Number(value.slice(tag.length))].value : value,
  );
}
