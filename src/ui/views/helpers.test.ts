import { describe, expect, it } from 'vitest';
import { autoDomain, colourFor, colourizeMap, lut, textOn, unitPosition } from './colour';
import { absDiff, chwToRgba, meanAbsDiff, rgbToRgba, signedLumaDiff } from './pixels';
import { moveFocus, toggleCells } from './selection';
import { stripTokens, tokenLabeller } from './tokens';

describe('toggleCells', () => {
  const none = [false, false, false, false, false, false];

  it('a click flips one cell and leaves the input untouched', () => {
    const next = toggleCells(none, 2, null, false);
    expect(next).toEqual([false, false, true, false, false, false]);
    expect(none[2]).toBe(false);
    expect(toggleCells(next, 2, 2, false)[2]).toBe(false);
  });

  it('a range click sets anchor..clicked (either direction) to the clicked cell’s new state', () => {
    expect(toggleCells(none, 4, 1, true)).toEqual([false, true, true, true, true, false]);
    expect(toggleCells(none, 1, 4, true)).toEqual([false, true, true, true, true, false]);
    // clicked cell was pruned -> the whole range is restored, even cells that were not pruned
    const mixed = [false, true, false, true, true, false];
    expect(toggleCells(mixed, 4, 0, true)).toEqual([false, false, false, false, false, false]);
  });

  it('a range click with no anchor behaves as a plain click', () => {
    expect(toggleCells(none, 3, null, true)).toEqual([false, false, false, true, false, false]);
  });
});

describe('moveFocus', () => {
  it('moves in a 4-wide grid and clamps at the ends', () => {
    expect(moveFocus(5, 'ArrowDown', 4, 20)).toBe(9);
    expect(moveFocus(5, 'ArrowUp', 4, 20)).toBe(1);
    expect(moveFocus(1, 'ArrowUp', 4, 20)).toBe(0);
    expect(moveFocus(19, 'ArrowRight', 4, 20)).toBe(19);
    expect(moveFocus(7, 'End', 4, 20)).toBe(19);
    expect(moveFocus(7, 'a', 4, 20)).toBeNull();
  });
});

describe('colour', () => {
  it('positions values on sequential and diverging domains, clamped', () => {
    expect(unitPosition(5, [0, 10])).toBe(0.5);
    expect(unitPosition(-3, [0, 10])).toBe(0);
    expect(unitPosition(0, [-2, 0, 4])).toBe(0.5);
    expect(unitPosition(-1, [-2, 0, 4])).toBe(0.25);
    expect(unitPosition(2, [-2, 0, 4])).toBe(0.75);
    expect(unitPosition(1, [1, 1])).toBe(0);
  });

  it('colourizes with the lookup table ends at the domain ends', () => {
    const table = lut('viridis');
    const px = colourizeMap([0, 1], [0, 1], table);
    // viridis runs from dark purple (#440154) to yellow (#fde725)
    expect(Array.from(px.subarray(0, 4))).toEqual([0x44, 0x01, 0x54, 255]);
    expect(Array.from(px.subarray(4, 8))).toEqual([0xfd, 0xe7, 0x25, 255]);
  });

  it('diverging schemes put positive values at the warm (orange/red) end', () => {
    const r = (c: string) => Number(c.match(/\d+/g)![0]);
    expect(r(colourFor(1, [-1, 0, 1], 'RdBu'))).toBeGreaterThan(r(colourFor(-1, [-1, 0, 1], 'RdBu')));
    const warm = colourFor(1, [-1, 0, 1], 'PuOr');
    const cool = colourFor(-1, [-1, 0, 1], 'PuOr');
    expect(r(warm)).toBeGreaterThan(r(cool));
  });

  it('picks readable text colours and auto domains', () => {
    expect(textOn('#fde725')).toBe('#000');
    expect(textOn('#440154')).toBe('#fff');
    expect(autoDomain([0.1, 0.5])).toEqual({ domain: [0, 0.5], diverging: false });
    expect(autoDomain([-0.2, 0.5])).toEqual({ domain: [-0.5, 0, 0.5], diverging: true });
    expect(autoDomain([])).toEqual({ domain: [0, 1], diverging: false });
  });
});

describe('pixels', () => {
  it('converts RGB and CHW [-1,1] to RGBA', () => {
    expect(Array.from(rgbToRgba([1, 2, 3, 4, 5, 6], 2, 1))).toEqual([1, 2, 3, 255, 4, 5, 6, 255]);
    // one pixel: R=-1 -> 0, G=0 -> 128 (127.5 rounds), B=1 -> 255
    expect(Array.from(chwToRgba([-1, 0, 1], 1, 1))).toEqual([0, 128, 255, 255]);
  });

  it('differences: magnitude in [0,1] and signed luma', () => {
    const a = [0, 0, 0, 255, 255, 255, 255, 255];
    const b = [255, 0, 0, 255, 255, 255, 255, 255];
    const d = absDiff(a, b);
    expect(d[0]).toBeCloseTo(1 / 3, 6);
    expect(d[1]).toBe(0);
    expect(signedLumaDiff(a, b)[0]).toBeCloseTo(0.2126, 4);
    expect(signedLumaDiff(b, a)[0]).toBeCloseTo(-0.2126, 4);
    expect(meanAbsDiff(a, b)).toBeCloseTo(1 / 6, 6);
    expect(() => absDiff(a, [0, 0, 0, 0])).toThrow(/differ/);
  });
});

describe('stripTokens', () => {
  const vocab = ['<pad>', '<bos>', '<eos>', '<unk>', 'a', 'painting', 'of'];
  const o = { padId: 0, bosId: 1, eosId: 2, unkId: 3 };

  it('keeps positions (the attention token index), hides padding, shows unknown words as typed', () => {
    const t = stripTokens([1, 4, 3, 6, 2, 0, 0], tokenLabeller(vocab), { ...o, words: ['a', 'glorp', 'of'] });
    expect(t.map((x) => x.text)).toEqual(['<bos>', 'a', 'glorp', 'of', '<eos>']);
    expect(t.map((x) => x.position)).toEqual([0, 1, 2, 3, 4]);
    expect(t[2].unknown).toBe(true);
    expect(t[0].special && t[4].special && !t[1].special).toBe(true);
  });

  it('can keep padding', () => {
    expect(stripTokens([1, 2, 0], tokenLabeller(vocab), { ...o, keepPadding: true }).map((x) => x.text)).toEqual([
      '<bos>',
      '<eos>',
      '<pad>',
    ]);
  });
});
