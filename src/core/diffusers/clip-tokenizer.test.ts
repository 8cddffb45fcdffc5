/**
 * CLIP tokenization against the shared fixture's reference (../shared/fixtures/tiny-sd1/reference/
 * tokens.json: transformers 4.30's slow CLIPTokenizer without ftfy, and the same with its ftfy
 * branch, NFC standing in for ftfy) and against the Rust fast tokenizer's own output for the same
 * prompts (__fixtures__/fast-tokenizer, written by make_fixtures.py).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer, type ClipTokenizerFiles, parseMerges, TokenizerFilesError } from './clip-tokenizer';

const TOKENIZER = '../shared/fixtures/tiny-sd1/tokenizer/';
const json = (path: string) => JSON.parse(readFileSync(path, 'utf8'));

const files: ClipTokenizerFiles = {
  vocab: json(`${TOKENIZER}vocab.json`),
  merges: readFileSync(`${TOKENIZER}merges.txt`, 'utf8'),
  config: json(`${TOKENIZER}tokenizer_config.json`),
  specialTokensMap: json(`${TOKENIZER}special_tokens_map.json`),
};

interface ReferencePrompt {
  prompt: string;
  input_ids: number[];
  input_ids_ftfy_path: number[];
  ftfy_path_differs: boolean;
  untruncated_length: number;
  truncated: boolean;
}
const reference = json('../shared/fixtures/tiny-sd1/reference/tokens.json') as {
  prompts: ReferencePrompt[];
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
};
const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);

describe('ClipTokenizer from vocab.json + merges.txt', () => {
  const fast = new ClipTokenizer(files);
  const basic = new ClipTokenizer(files, { normalization: 'basic' });

  it('reads the special tokens and the length from the folder: begin 998, end 999, pad = end (SD 1.x), 77', () => {
    expect([fast.bosId, fast.eosId, fast.padId, fast.maxLength]).toEqual([
      reference.bos_token_id,
      reference.eos_token_id,
      reference.pad_token_id,
      77,
    ]);
  });

  it("'basic' gives exactly the slow tokenizer's ids (the primary reference) for all 14 prompts, ASCII or not", () => {
    for (const p of reference.prompts) {
      const got = basic.encode(p.prompt);
      expect(got.ids, p.prompt).toEqual(p.input_ids);
      expect(got.length, p.prompt).toBe(p.untruncated_length);
      expect(got.truncated, p.prompt).toBe(p.truncated);
    }
  });

  it("'fast' (the default) gives the fast tokenizer's ids: the reference's ftfy-path ids for all 14 prompts", () => {
    for (const p of reference.prompts) expect(fast.encode(p.prompt).ids, p.prompt).toEqual(p.input_ids_ftfy_path);
  });

  it("'fast' equals the primary reference for 10 of the 14 prompts; 2 ASCII and 2 accented ones differ", () => {
    const differing = reference.prompts.filter((p) => p.ftfy_path_differs).map((p) => p.prompt);
    // exactly these four differ: a punctuation run and contractions (ASCII), accents (the second
    // written with a combining accent, U+0301); the next test shows how
    expect(differing).toEqual([
      'A Red-Car, parked!!',
      'café naïve 東京',
      'cafe\u0301 au lait',
      "it's the dog's toy, isn't it?",
    ]);
    for (const p of reference.prompts.filter((q) => !q.ftfy_path_differs)) {
      expect(fast.encode(p.prompt).ids, p.prompt).toEqual(p.input_ids);
    }
    expect(reference.prompts.filter((p) => isAscii(p.prompt)).length).toBe(11);
  });

  it('says how the two normalizations differ, token by token', () => {
    const tokens = (t: ClipTokenizer, prompt: string) => {
      const e = t.encode(prompt);
      return e.tokens.slice(1, e.length - 1);
    };
    // the slow tokenizer without ftfy splits off every punctuation character; CLIP's pattern keeps runs
    expect(tokens(basic, 'parked!!').slice(-2)).toEqual(['!</w>', '!</w>']);
    expect(tokens(fast, 'parked!!').slice(-2)).toEqual(['!', '!</w>']);
    // ... and contractions: "'" "s" as two words, against CLIP's "'s"
    expect(tokens(basic, "it's")).toEqual(['it</w>', "'</w>", 's</w>']);
    expect(tokens(fast, "it's")).toEqual(['it</w>', "'", 's</w>']);
    // it strips accents (NFD, marks dropped); the fast tokenizer keeps é as its two UTF-8 bytes
    expect(tokens(basic, 'café')).toEqual(['ca', 'f', 'e</w>']);
    expect(tokens(fast, 'café')).toEqual(['ca', 'f', 'Ã', '©</w>']);
    // a decomposed accent (e + U+0301) is composed by NFC first, so it tokenizes like the composed one
    expect(fast.encode('cafe\u0301').ids).toEqual(fast.encode('café').ids);
    // it puts CJK ideographs in words of their own (each gets </w>); the fast tokenizer keeps 東京 one word
    expect(tokens(basic, '東京').filter((t) => t.endsWith('</w>')).length).toBe(2);
    expect(tokens(fast, '東京').filter((t) => t.endsWith('</w>')).length).toBe(1);
  });

  it('pads with the end token up to 77 and truncates to 75 prompt tokens plus begin and end', () => {
    const long = fast.encode('cat '.repeat(100));
    expect(long.ids.length).toBe(77);
    expect(long.truncated).toBe(true);
    expect(long.length).toBe(102);
    expect(long.ids[0]).toBe(998);
    expect(long.ids[76]).toBe(999);
    expect(long.ids.slice(1, 76).every((id) => id === long.ids[1])).toBe(true);
    const short = fast.encode('a cat');
    expect(short.ids.slice(3)).toEqual([999, ...new Array(73).fill(999)]);
  });

  it('pads with "!" (id 0) when the folder says so, as SD 2.x tokenizers do', () => {
    const sd2 = new ClipTokenizer({
      ...files,
      config: { ...files.config, pad_token: '!' },
      specialTokensMap: { ...files.specialTokensMap, pad_token: '!' },
    });
    expect(sd2.padId).toBe(0);
    const e = sd2.encode('a photo of a cat');
    expect(e.ids.slice(0, 8)).toEqual([998, 320, 575, 526, 320, 716, 999, 0]);
    expect(e.ids.slice(7).every((id) => id === 0)).toBe(true);
    // special_tokens_map.json alone is enough
    const fromMap = new ClipTokenizer({
      ...files,
      config: { model_max_length: 77 },
      specialTokensMap: { pad_token: '!' },
    });
    expect(fromMap.padId).toBe(0);
  });

  it('labels tokens as readable text for heatmaps', () => {
    expect(fast.label(716)).toBe('cat');
    expect(fast.label(998)).toBe('<|startoftext|>');
    expect(fast.label(-1)).toBe('');
  });
});

describe('ClipTokenizer from a tokenizer.json (the Rust fast tokenizer as transformers saves it)', () => {
  const dir = 'src/core/diffusers/__fixtures__/fast-tokenizer/';
  const rust = json(`${dir}ids.json`) as { prompts: { prompt: string; input_ids: number[] }[] };
  const fromJson = new ClipTokenizer({
    tokenizerJson: json(`${dir}tokenizer.json`),
    config: json(`${dir}tokenizer_config.json`),
  });

  it("gives the Rust tokenizer's own ids for the 14 reference prompts", () => {
    expect(rust.prompts.length).toBe(14);
    for (const p of rust.prompts) expect(fromJson.encode(p.prompt).ids, p.prompt).toEqual(p.input_ids);
  });

  it('agrees with the tokenizer built from vocab.json + merges.txt, in both normalizations', () => {
    const basicFromJson = new ClipTokenizer(
      { tokenizerJson: json(`${dir}tokenizer.json`) },
      { normalization: 'basic', fallbackMaxLength: 77 },
    );
    const basic = new ClipTokenizer(files, { normalization: 'basic' });
    for (const p of reference.prompts) {
      expect(fromJson.encode(p.prompt).ids).toEqual(new ClipTokenizer(files).encode(p.prompt).ids);
      expect(basicFromJson.encode(p.prompt).ids).toEqual(basic.encode(p.prompt).ids);
    }
  });
});

describe('tokenizer files that cannot work', () => {
  it('names what is missing or wrong', () => {
    expect(() => new ClipTokenizer({ merges: files.merges })).toThrow(/neither tokenizer.json nor vocab.json/);
    expect(() => new ClipTokenizer({ vocab: files.vocab })).toThrow(/no merges.txt/);
    expect(() => new ClipTokenizer({ ...files, config: { ...files.config, pad_token: '<pad>' } })).toThrow(
      /padding token "<pad>" is not in the vocabulary/,
    );
    expect(() => new ClipTokenizer({ ...files, merges: '#version: 0.2\na b c\n' })).toThrow(TokenizerFilesError);
    expect(() => new ClipTokenizer({ ...files, config: {} })).toThrow(/model_max_length/);
  });

  it('reads merges like the slow tokenizer: version line skipped, at most 48,894 merges', () => {
    expect(parseMerges('#version: 0.2\ni n\nin g</w>\n')).toEqual([
      ['i', 'n'],
      ['in', 'g</w>'],
    ]);
    const many = Array.from({ length: 50_000 }, (_, i) => `a${i} b`).join('\n');
    expect(parseMerges(`#version: 0.2\n${many}`).length).toBe(48_894);
  });
});
