import { describe, expect, it } from 'vitest';
import {
  allOnes,
  checkMaskSet,
  countPruned,
  maskSetFromPruned,
  maskSetOfUnits,
  parsePrunedUnits,
  prunedUnits,
  stackMaskSets,
} from './masks';

const specs = [
  { name: 'head', layers: 2, units: 3, kind: 'cross-attention head' },
  { name: 'ff', layers: 2, units: 4, kind: 'feed-forward neuron' },
];

describe('mask sets', () => {
  it('allOnes has one scale 1 per unit of every mask input', () => {
    const set = allOnes(specs);
    expect(Object.keys(set)).toEqual(['head', 'ff']);
    expect(Array.from(set.head)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(set.ff.length).toBe(8);
    expect(countPruned(set)).toBe(0);
  });

  it('round-trips pruned units through a mask set (layer-major indexing)', () => {
    const pruned = [
      { mask: 'head', layer: 1, unit: 2 },
      { mask: 'ff', layer: 0, unit: 0 },
      { mask: 'ff', layer: 1, unit: 3 },
    ];
    const set = maskSetFromPruned(specs, pruned);
    expect(Array.from(set.head)).toEqual([1, 1, 1, 1, 1, 0]);
    expect(Array.from(set.ff)).toEqual([0, 1, 1, 1, 1, 1, 1, 0]);
    expect(countPruned(set)).toBe(3);
    expect(prunedUnits(specs, set)).toEqual(pruned);
  });

  it('refuses units outside the model and unknown mask names', () => {
    expect(() => maskSetFromPruned(specs, [{ mask: 'head', layer: 2, unit: 0 }])).toThrow(/layer 2/);
    expect(() => maskSetFromPruned(specs, [{ mask: 'head', layer: 0, unit: 3 }])).toThrow(/unit 3/);
    expect(() => maskSetFromPruned(specs, [{ mask: 'nope', layer: 0, unit: 0 }])).toThrow(/unknown mask/);
  });

  it('builds a set from flat unit lists per mask, the same set the pruned-unit form gives', () => {
    const set = maskSetOfUnits(specs, { head: [5], ff: [0, 7] });
    expect(set).toEqual(
      maskSetFromPruned(specs, [
        { mask: 'head', layer: 1, unit: 2 },
        { mask: 'ff', layer: 0, unit: 0 },
        { mask: 'ff', layer: 1, unit: 3 },
      ]),
    );
    expect(() => maskSetOfUnits(specs, { nope: [0] })).toThrow(/not an input/);
    expect(() => maskSetOfUnits(specs, { head: [6] })).toThrow(RangeError);
    expect(() => maskSetOfUnits(specs, { head: [1.5] })).toThrow(RangeError);
  });

  it('checkMaskSet catches missing, extra and wrongly sized inputs', () => {
    expect(() => checkMaskSet(specs, { head: new Float32Array(6) })).toThrow(/lacks "ff"/);
    expect(() => checkMaskSet(specs, { ...allOnes(specs), x: new Float32Array(1) })).toThrow(/unknown/);
    expect(() => checkMaskSet(specs, { ...allOnes(specs), ff: new Float32Array(7) })).toThrow(/7 scales/);
  });

  it('stacks sets along the batch axis, repeating each for its rows', () => {
    const a = allOnes(specs);
    const b = maskSetFromPruned(specs, [{ mask: 'head', layer: 0, unit: 1 }]);
    const feeds = stackMaskSets(specs, [a, b], 2);
    expect(Array.from(feeds.head)).toEqual([
      ...[1, 1, 1, 1, 1, 1],
      ...[1, 1, 1, 1, 1, 1],
      ...[1, 0, 1, 1, 1, 1],
      ...[1, 0, 1, 1, 1, 1],
    ]);
    expect(feeds.ff.length).toBe(4 * 8);
  });
});

describe('parsePrunedUnits', () => {
  it('reads name:layer.unit lists', () => {
    expect(parsePrunedUnits('cross_attn_head_mask:0.1,3.2')).toEqual([
      { mask: 'cross_attn_head_mask', layer: 0, unit: 1 },
      { mask: 'cross_attn_head_mask', layer: 3, unit: 2 },
    ]);
  });

  it('rejects malformed specs', () => {
    for (const s of ['cross_attn_head_mask', 'x:1', 'x:1.2,', ':0.1']) expect(() => parsePrunedUnits(s)).toThrow();
  });
});
