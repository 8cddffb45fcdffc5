import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../manifest';
import { promptSetsOfManifest } from './model-sets';
import { detectPromptFormat, parsePromptFile } from './parse';

// Every fixture is written to disk here, as bytes (BOM, CRLF), and read back the way the CLI reads it.
const dir = mkdtempSync(join(tmpdir(), 'memlab-prompts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fixture(name: string, text: string, { bom = false, crlf = false } = {}): string {
  const body = crlf ? text.replace(/\n/g, '\r\n') : text;
  writeFileSync(
    join(dir, name),
    Buffer.concat([Buffer.from(bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(body, 'utf8')]),
  );
  return readFileSync(join(dir, name), 'utf8');
}

describe("Wen et al.'s JSONL", () => {
  const text = fixture(
    'sdv1_memorized.jsonl',
    [
      '{"caption": "Living in the Light with Ann Graham Lotz", "index": 101, "url": "https://example.org/a/ann.jpg"}',
      '',
      '{"caption": "The No Limits Business Woman Podcast", "index": "202", "url": ""}',
      '{"caption": "Mothers influence on her young hippo", "index": 303',
      '{"url": "https://example.org/b.jpg", "index": 4}',
      '["a list", "not an object"]',
      '{"caption": "  Anne Graham Lotz  ", "index": -7}',
      '{"caption": "   ", "index": 5}',
      '{"caption": "The No Limits Business Woman Podcast", "index": 606}',
      '{"caption": "quotes \\"inside\\" and a ; semicolon"}',
    ].join('\n'),
    { bom: true, crlf: true },
  );
  const r = parsePromptFile(text, 'sdv1_memorized.jsonl', { label: 'memorized' });

  it('reads captions, indexes and URLs through a BOM and CRLF line ends', () => {
    expect(r.ok).toBe(true);
    expect(r.format).toBe('wen-jsonl');
    expect(r.set).toMatchObject({ name: 'sdv1_memorized', label: 'memorized' });
    expect(r.set.prompts).toEqual([
      { caption: 'Living in the Light with Ann Graham Lotz', index: 101, url: 'https://example.org/a/ann.jpg' },
      { caption: 'The No Limits Business Woman Podcast', index: 202 },
      { caption: 'Anne Graham Lotz' },
      { caption: 'The No Limits Business Woman Podcast', index: 606 },
      { caption: 'quotes "inside" and a ; semicolon' },
    ]);
    expect(r.lines).toBe(10);
    expect(r.blankLines).toBe(1);
    expect(r.duplicateCaptions).toBe(1);
  });

  it('reports each skipped line with its number and a reason in words', () => {
    expect(r.skipped.map((s) => [s.line, s.reason])).toEqual([
      [4, 'not a valid JSON object (cut off, or a stray character)'],
      [5, 'no "caption" text in this object'],
      [6, 'a JSON value but not an object with a "caption"'],
      [8, 'the caption is empty'],
    ]);
    expect(r.skipped[0].detail).toBeTruthy();
    expect(r.skipped[1].detail).toBe('keys found: url, index');
    expect(r.skipped[0].text.startsWith('{"caption": "Mothers')).toBe(true);
    expect(r.notes).toEqual([{ line: 7, note: 'index -7 is not a whole number: left out' }]);
    expect(r.summary).toBe(
      "Read 5 memorized prompts from sdv1_memorized.jsonl as Wen et al.'s JSONL (the first line is a JSON object); skipped 4 lines; 1 note; 1 repeated caption kept.",
    );
  });

  it('refuses a JSON array with a message saying what JSON Lines is', () => {
    const a = parsePromptFile(fixture('list.json', '[\n {"caption": "a"},\n {"caption": "b"}\n]\n'), 'list.json');
    expect(a.ok).toBe(false);
    expect(a.set.prompts).toEqual([]);
    expect(a.error).toMatch(/JSON array, not JSON Lines/);
    expect(a.summary).toMatch(/^Could not read prompts from list\.json/);
  });

  it('gives no prompts, and says why, when every line is broken', () => {
    const b = parsePromptFile(fixture('broken.jsonl', '{"caption": \n{oops}\n'), 'broken.jsonl');
    expect(b.ok).toBe(false);
    expect(b.skipped).toHaveLength(2);
    expect(b.error).toMatch(/all 2 non-blank lines were skipped/);
  });
});

describe("NeMo's CSV", () => {
  const text = fixture(
    'memorized_laion_prompts.csv',
    [
      'Caption;URL;type;mean_sscd;max_sscd;Index',
      'Netflix Hit Series "Stranger Things";https://example.org/st.jpg;VM;0.91;0.97;1234',
      '"Rambo: Last Blood; the ""final"" chapter";https://example.org/rambo.png;TM;0.55;0.71;99',
      'a caption, with commas, only,https://example.org/x.jpg,VM,0.1,0.2,7',
      '"an unclosed quote;https://example.org/u.jpg;VM;0.1;0.2;8',
      '',
      'plain caption;;tm;;;',
      '"two-line ',
      'caption";https://example.org/two.jpg;VM;0.3;0.4;12',
      'too;many;fields;here;1;2;3',
      ';https://example.org/empty.jpg;VM;0.1;0.1;13',
      'odd type;https://example.org/o.jpg;XM;0.1;0.1;abc',
      '"closed" then text;u;VM;0;0;1',
    ].join('\n'),
    { bom: true, crlf: true },
  );
  const r = parsePromptFile(text, 'memorized_laion_prompts.csv', { label: 'memorized' });

  it('reads quoted captions with semicolons, doubled quotes and line breaks', () => {
    expect(r.ok).toBe(true);
    expect(r.format).toBe('nemo-csv');
    expect(r.formatReason).toBe('the first line is a header naming a Caption column');
    expect(r.set.prompts).toEqual([
      { caption: 'Netflix Hit Series "Stranger Things"', url: 'https://example.org/st.jpg', kind: 'VM', index: 1234 },
      {
        caption: 'Rambo: Last Blood; the "final" chapter',
        url: 'https://example.org/rambo.png',
        kind: 'TM',
        index: 99,
      },
      { caption: 'plain caption', kind: 'TM' },
      { caption: 'two-line \ncaption', url: 'https://example.org/two.jpg', kind: 'VM', index: 12 },
      { caption: 'odd type', url: 'https://example.org/o.jpg' },
    ]);
  });

  it('skips broken rows with their line numbers and goes on after an unclosed quote', () => {
    expect(r.skipped.map((s) => [s.line, s.reason])).toEqual([
      [4, '1 fields where the header has 6 (commas or tabs where semicolons belong?)'],
      [5, 'a quoted field opens with " and is not closed properly'],
      [10, '7 fields where the header has 6 (a semicolon inside a caption that is not in quotes?)'],
      [11, 'the caption is empty'],
      [13, 'text follows a closing quote without a ";" before it'],
    ]);
    expect(r.notes).toEqual([
      { line: 12, note: 'type "XM" is neither VM nor TM: left out' },
      { line: 12, note: 'Index "abc" is not a whole number: left out' },
    ]);
  });

  it('refuses a comma-separated file, naming the separator it found and the one it needs', () => {
    const c = parsePromptFile(
      fixture('commas.csv', 'caption,url,type,mean_sscd,max_sscd,index\n"a, b",http://x/y.jpg,VM,0.1,0.2,3\n'),
      'commas.csv',
    );
    expect(c.ok).toBe(false);
    expect(c.error).toMatch(/separates its columns with commas; NeMo's CSV uses semicolons/);
    expect(c.set.prompts).toEqual([]);
  });

  it('refuses a tab-separated file the same way', () => {
    const t = parsePromptFile(fixture('tabs.tsv', 'Caption\tURL\ttype\na\tb\tVM\n'), 'tabs.tsv');
    expect(t.format).toBe('nemo-csv');
    expect(t.error).toMatch(/with tabs/);
  });

  it('reads a headerless file in NeMo column order, and says so', () => {
    const h = parsePromptFile(fixture('nohead.csv', 'a cat;http://x/1.jpg;VM;0.1;0.2;5\n'), 'nohead.csv');
    expect(h.set.prompts).toEqual([{ caption: 'a cat', url: 'http://x/1.jpg', kind: 'VM', index: 5 }]);
    expect(h.notes[0].note).toMatch(/no header line/);
  });

  it('refuses a one-column .csv without semicolons, pointing to plain text', () => {
    const p = parsePromptFile(fixture('list.csv', 'a cat\na dog\n'), 'list.csv');
    expect(p.ok).toBe(false);
    expect(p.error).toMatch(/not NeMo's CSV.*plain text/);
    const asText = parsePromptFile(readFileSync(join(dir, 'list.csv'), 'utf8'), 'list.csv', { format: 'plain-text' });
    expect(asText.set.prompts.map((x) => x.caption)).toEqual(['a cat', 'a dog']);
    expect(asText.formatReason).toBe('asked for');
  });
});

describe('plain text, one prompt per line', () => {
  it('trims, drops blank lines and keeps everything else through BOM and CRLF', () => {
    const text = fixture(
      'ren_prompts.txt',
      `  a painting of zephyr  \n\n"quoted" prompt; with {braces}\n\t\n${'x'.repeat(2001)}\nlast line without newline`,
      { bom: true, crlf: true },
    );
    const r = parsePromptFile(text, 'ren_prompts.txt');
    expect(r.format).toBe('plain-text');
    expect(r.set.label).toBe('unlabelled');
    expect(r.set.prompts.map((p) => p.caption)).toEqual([
      'a painting of zephyr',
      '"quoted" prompt; with {braces}',
      'last line without newline',
    ]);
    expect(r.skipped.map((s) => [s.line, s.reason])).toEqual([[5, 'the caption is longer than 2,000 characters']]);
    expect(r.skipped[0].text).toHaveLength(120);
    expect(r.blankLines).toBe(2);
  });

  it('refuses binary data and empty files with a message', () => {
    const bin = parsePromptFile('\u0089PNG\r\n\u001a\n\u0000\u0000\u0000\rIHDR', 'image.png');
    expect(bin.ok).toBe(false);
    expect(bin.error).toMatch(/not a text file/);
    const empty = parsePromptFile(fixture('empty.txt', '\n\n  \n', { bom: true }), 'empty.txt');
    expect(empty.ok).toBe(false);
    expect(empty.error).toMatch(/no prompts/);
  });
});

describe('format detection', () => {
  it('trusts the content over the name, then the name, then falls back to plain text', () => {
    expect(detectPromptFormat(['', '{"caption": "a"}'], 'prompts.txt').format).toBe('wen-jsonl');
    expect(detectPromptFormat(['Caption;URL'], 'prompts.txt').format).toBe('nemo-csv');
    expect(detectPromptFormat(['"caption",url'], 'p').format).toBe('nemo-csv');
    expect(detectPromptFormat(['a cat'], 'p.JSONL')).toEqual({
      format: 'wen-jsonl',
      reason: 'the file name ends in .jsonl',
    });
    expect(detectPromptFormat(['a cat'], 'p.csv').format).toBe('nemo-csv');
    expect(detectPromptFormat(['a cat'], 'dir.v2/prompts')).toEqual({
      format: 'plain-text',
      reason: 'no other format fits',
    });
  });

  it('takes the format it is given over what it would detect', () => {
    const r = parsePromptFile('{"caption": "a"}\n', 'p.jsonl', { format: 'plain-text', name: 'raw' });
    expect(r.set).toEqual({ name: 'raw', label: 'unlabelled', prompts: [{ caption: '{"caption": "a"}' }] });
  });
});

describe('10,000-line files', () => {
  const n = 10_000;
  const bad = new Set([17, 4_321, 9_999]); // 0-based rows made malformed
  const jsonl = `${Array.from({ length: n }, (_, i) =>
    bad.has(i)
      ? `{"caption": "broken ${i}"`
      : JSON.stringify({ caption: `prompt number ${i}`, index: i, url: `https://x.org/${i}.jpg` }),
  ).join('\n')}\n`;
  const csv = `${[
    'Caption;URL;type;mean_sscd;max_sscd;Index',
    ...Array.from({ length: n }, (_, i) =>
      bad.has(i)
        ? `"broken; ${i}`
        : `"prompt; ""number"" ${i}";https://x.org/${i}.jpg;${i % 2 ? 'VM' : 'TM'};0.5;0.6;${i}`,
    ),
  ].join('\n')}\n`;
  const txt = `${Array.from({ length: n }, (_, i) => (bad.has(i) ? '' : `prompt number ${i}`)).join('\n')}\n`;

  it.each([
    ['big.jsonl', jsonl, 0],
    ['big.csv', csv, 1],
    ['big.txt', txt, 0],
  ])('%s parses in well under a second with the bad lines reported', (name, content, headerLines) => {
    const text = fixture(name, content, { crlf: true });
    const began = performance.now();
    const r = parsePromptFile(text, name);
    const ms = performance.now() - began;
    expect(ms).toBeLessThan(1000);
    expect(r.set.prompts).toHaveLength(n - bad.size);
    if (name.endsWith('.txt')) {
      expect(r.skipped).toEqual([]);
      expect(r.blankLines).toBe(bad.size);
    } else {
      expect(r.skipped.map((s) => s.line)).toEqual([...bad].map((i) => i + 1 + headerLines));
    }
    expect(r.set.prompts[n - bad.size - 1].caption).toMatch(/9998$/);
  });
});

describe("the model's own sets", () => {
  it('are the memorized captions with their image indexes and the neutral prompts', () => {
    const parsed = parseManifest(JSON.parse(readFileSync('public/models/memlab-organism/manifest.json', 'utf8')));
    if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
    const m = parsed.manifest;
    const [memorized, neutral] = promptSetsOfManifest(m);
    expect(memorized.label).toBe('memorized');
    expect(memorized.prompts).toHaveLength(m.memorized.length);
    expect(memorized.prompts[0]).toEqual({
      caption: m.memorized[0].caption,
      index: m.memorized[0].imageIndex,
      kind: m.memorized[0].kind === 'verbatim' ? 'VM' : 'TM',
    });
    expect(new Set(memorized.prompts.map((p) => p.kind))).toEqual(new Set(['VM', 'TM']));
    expect(neutral).toEqual({
      name: `${m.id}: neutral prompts`,
      label: 'non-memorized',
      prompts: m.neutralPrompts.map((caption) => ({ caption })),
    });
  });
});
