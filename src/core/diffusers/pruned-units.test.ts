import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { countPruned } from '../masks';
import type { DiffusersUNetConfig } from '../onnx/analyze';
import { instrumentUNet } from '../onnx/instrument';
import { describeUnit, PrunedUnitError, prunedMaskSet } from './pruned-units';

// the SD 2.x-style fixture: 2, 4 and 8 heads per block, value widths 16 to 32
const SD2 = 'test-fixtures/tiny-sd2/unet';
const { description: d } = instrumentUNet(new Uint8Array(readFileSync(`${SD2}/model.onnx`)), {
  config: JSON.parse(readFileSync(`${SD2}/config.json`, 'utf8')) as DiffusersUNetConfig,
  capture: false,
});

describe('prunedMaskSet on a UNet with a different head count per block', () => {
  it('prunes heads, self-attention heads and value neurons inside each block', () => {
    const mid = d.crossAttention.findIndex((b) => b.name === 'mid_block/attentions.0');
    const set = prunedMaskSet(d, [
      { mask: 'cross_attn_head_mask', layer: mid, unit: 7 },
      { mask: 'self_attn_head_mask', layer: 0, unit: 1 },
      { mask: 'cross_attn_value_mask', layer: 0, unit: d.crossAttention[0].valueWidth - 1 },
    ]);
    expect(countPruned(set)).toBe(3);
    const cross = d.masks.find((m) => m.name === 'cross_attn_head_mask');
    expect(set.cross_attn_head_mask[mid * (cross?.units ?? 0) + 7]).toBe(0);
    expect(describeUnit(d, { mask: 'cross_attn_head_mask', layer: mid, unit: 7 })).toBe(
      'cross-attention head 7 of mid_block/attentions.0',
    );
  });

  it('refuses a head that fits the mask but not its block, naming the block and its count', () => {
    // the mask is 8 wide (the middle block); block 0 has 2 heads
    expect(() => prunedMaskSet(d, [{ mask: 'cross_attn_head_mask', layer: 0, unit: 5 }])).toThrow(
      'cross_attn_head_mask:0.5: block 0 (down_blocks.0/attentions.0) has 2 heads, numbered 0 to 1',
    );
    const width = d.crossAttention[0].valueWidth;
    expect(() => prunedMaskSet(d, [{ mask: 'cross_attn_value_mask', layer: 0, unit: width }])).toThrow(
      `has ${width} value neurons`,
    );
  });

  it('refuses an unknown mask or block, listing what the model has', () => {
    expect(() => prunedMaskSet(d, [{ mask: 'ff_mask', layer: 0, unit: 0 }])).toThrow(PrunedUnitError);
    expect(() => prunedMaskSet(d, [{ mask: 'ff_mask', layer: 0, unit: 0 }])).toThrow(
      /no mask "ff_mask"; its masks are self_attn_head_mask \(self-attention heads\), cross_attn_head_mask/,
    );
    expect(() => prunedMaskSet(d, [{ mask: 'self_attn_head_mask', layer: 7, unit: 0 }])).toThrow(
      /self_attn_head_mask has no block 7; its blocks are 0 down_blocks\.0\/attentions\.0 \(2 heads\), .* 6 up_blocks\.2\/attentions\.1 \(2 heads\)$/,
    );
  });
});
