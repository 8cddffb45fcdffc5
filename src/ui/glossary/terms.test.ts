import { describe, expect, test } from 'vitest';
import { TERMS, glossaryTerms } from './terms';

describe('glossary terms', () => {
  test('every term the lab shows without explanation elsewhere has a plain line', () => {
    const named = Object.values(TERMS).map((t) => t.term.toLowerCase());
    for (const word of [
      'tiled l2',
      'wen score',
      'ε(text) − ε(empty)',
      'daam',
      'nemo',
      'uniforget β',
      'ablation',
      'value neuron',
      'replication',
      'memorized prompt',
    ]) {
      expect(
        named.some((t) => t.includes(word)),
        word,
      ).toBe(true);
    }
  });

  test('each explanation is one short line that ends a sentence', () => {
    for (const t of Object.values(TERMS)) {
      expect(t.plain.length, t.term).toBeLessThanOrEqual(160);
      expect(t.plain, t.term).toMatch(/[.)]$/);
    }
  });

  test('the glossary lists every term once, alphabetically', () => {
    const list = glossaryTerms();
    expect(list).toHaveLength(Object.keys(TERMS).length);
    const names = list.map(([, t]) => t.term);
    expect(names).toEqual([...names].sort((a, b) => a.localeCompare(b, 'en')));
  });
});
