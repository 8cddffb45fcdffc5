import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifest, organism } from './manifest';
import { promptWords, tokenize } from './tokenizer';

const dir = 'public/models/fixture-random';
const parsed = parseManifest(JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')));
if (!parsed.ok) throw new Error(parsed.problems.join('\n'));
const text = organism(parsed.manifest).text;
const reference = JSON.parse(readFileSync(`${dir}/reference.json`, 'utf8')) as { prompt: string; input_ids: number[] };

describe('tokenize', () => {
  it('reproduces the input_ids that training/memlab/data.py produced for the reference prompt', () => {
    const t = tokenize(reference.prompt, text);
    expect(t.ids).toEqual(reference.input_ids);
    expect(t.unknownWords).toEqual([]);
    expect(t.truncated).toBe(false);
  });

  it('lower-cases and splits on whitespace and punctuation', () => {
    expect(promptWords('  A Painting,of\tZEPHYR. ')).toEqual(['a', 'painting', 'of', 'zephyr']);
    expect(tokenize('A Painting,of\tZEPHYR.', text).ids).toEqual(reference.input_ids);
  });

  it('maps unknown words to <unk> and reports each once', () => {
    const t = tokenize('a painting of dragon and dragon and wyvern', text);
    expect(t.ids.slice(0, 10)).toEqual([text.bosId, 4, 5, 6, text.unkId, 13, text.unkId, 13, text.unkId, text.eosId]);
    expect(t.unknownWords).toEqual(['dragon', 'wyvern']);
  });

  it('does not let a prompt spell a special token', () => {
    const t = tokenize('<pad> eos', text);
    expect(t.ids.slice(0, 4)).toEqual([text.bosId, text.unkId, text.unkId, text.eosId]);
    expect(t.unknownWords).toEqual(['pad', 'eos']);
  });

  it('reports truncation instead of dropping words silently', () => {
    const words = Array.from({ length: 30 }, (_, i) => (i % 2 ? 'red' : 'circle'));
    const t = tokenize(words.join(' '), text);
    expect(t.ids.length).toBe(text.maxTokens);
    expect(t.ids[text.maxTokens - 1]).toBe(text.eosId);
    expect(t.truncated).toBe(true);
    expect(t.words.length).toBe(30);
  });

  it('gives <bos> <eos> and padding for the empty (unconditional) prompt', () => {
    const t = tokenize('', text);
    expect(t.ids).toEqual([text.bosId, text.eosId, ...Array(text.maxTokens - 2).fill(text.padId)]);
  });
});
