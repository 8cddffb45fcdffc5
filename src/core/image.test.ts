import { describe, expect, it } from 'vitest';
import { chwToRgb, chwToRgba, toByte, upscaleNearest } from './image';

describe('image conversion', () => {
  it('maps [-1, 1] to 0..255 with rounding and clamping', () => {
    expect([-2, -1, 0, 1, 3].map(toByte)).toEqual([0, 0, 128, 255, 255]);
    expect(toByte(-1 + 1 / 127.5)).toBe(1);
  });

  it('interleaves channel planes into RGB and RGBA pixels', () => {
    // 2x1 image: pixel 0 = (r=-1, g=0, b=1), pixel 1 = (1, -1, 0)
    const chw = new Float32Array([-1, 1, 0, -1, 1, 0]);
    expect(Array.from(chwToRgb(chw, 2, 1))).toEqual([0, 128, 255, 255, 0, 128]);
    expect(Array.from(chwToRgba(chw, 2, 1))).toEqual([0, 128, 255, 255, 255, 0, 128, 255]);
    expect(chwToRgba(chw, 2, 1)).toBeInstanceOf(Uint8ClampedArray);
  });

  it('refuses a buffer of the wrong size', () => {
    expect(() => chwToRgb(new Float32Array(5), 2, 1)).toThrow(/3 x 1 x 2/);
  });

  it('upscales by repeating each pixel factor x factor times', () => {
    const rgb = new Uint8Array([1, 2, 3, 4, 5, 6]); // 2x1
    const up = upscaleNearest(rgb, 2, 1, 3, 2);
    expect(up).toBeInstanceOf(Uint8Array);
    expect(Array.from(up)).toEqual([1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6, 1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
  });
});
