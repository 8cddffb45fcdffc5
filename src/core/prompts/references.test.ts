import { describe, expect, it } from 'vitest';
import { matchReferenceImages, replicationNeedsReferences, urlFileName } from './references';
import type { PromptSet } from './types';

const wen: PromptSet = {
  name: 'wen',
  label: 'memorized',
  prompts: [
    { caption: 'a', index: 7, url: 'https://x.org/img/a%20b.jpg?w=512' },
    { caption: 'b', index: 12 },
    { caption: 'c', url: 'https://x.org/c.jpg' },
    { caption: 'd', index: 99 },
  ],
};

describe('matching reference images to prompts', () => {
  it('matches by index (leading zeros allowed), then by the file name of the URL, with or without its extension', () => {
    const m = matchReferenceImages(wen, ['000007.png', '12.jpg', '12.png', 'c.png', 'notes.txt', 'extra.JPEG']);
    expect(m.matches).toEqual([
      { prompt: 0, file: '000007.png', by: 'index' },
      { prompt: 1, file: '12.jpg', by: 'index' },
      { prompt: 2, file: 'c.png', by: 'file name' },
    ]);
    expect(m.unmatched).toEqual([3]);
    expect(m.ambiguous).toEqual([{ prompt: 1, files: ['12.jpg', '12.png'] }]);
    expect(m.unused).toEqual(['12.png', 'extra.JPEG']);
    expect(m.ignored).toEqual(['notes.txt']);
    expect(m.summary).toBe(
      '3 of 4 prompts of "wen" have a reference image; 2 images matched no prompt; 1 file is not PNG or JPEG; 1 prompt fit several files (the first by name was used).',
    );
    expect(replicationNeedsReferences(m)).toBeNull();
  });

  it('matches a decoded URL file name when no index fits', () => {
    const m = matchReferenceImages(wen, ['A B.JPG']);
    expect(m.matches).toEqual([{ prompt: 0, file: 'A B.JPG', by: 'file name' }]);
    expect(urlFileName('https://x.org/p/%E2%82%AC.png#frag')).toBe('€.png');
    expect(urlFileName('https://x.org/bad%zz.png')).toBe('bad%zz.png');
    expect(urlFileName('https://x.org/')).toBeUndefined();
  });

  it('matches a list without indexes by position from 0, but never a set that has indexes', () => {
    const plain: PromptSet = { name: 'ren', label: 'unlabelled', prompts: [{ caption: 'x' }, { caption: 'y' }] };
    expect(matchReferenceImages(plain, ['1.png', '0.png', '5.png']).matches).toEqual([
      { prompt: 0, file: '0.png', by: 'position' },
      { prompt: 1, file: '1.png', by: 'position' },
    ]);
    expect(matchReferenceImages(wen, ['1.png', '3.png']).matches).toEqual([]);
  });

  it('says that replication needs references, and how to name them, when none match', () => {
    const m = matchReferenceImages(wen, ['unrelated.png']);
    expect(m.summary).toMatch(/^No reference image matches a prompt of "wen"\. Name each PNG or JPEG file/);
    expect(replicationNeedsReferences(m)).toMatch(/^Replication needs reference images.*noise gap, seed consistency/);
    expect(replicationNeedsReferences(null)).toMatch(/^Replication needs reference images/);
  });
});
