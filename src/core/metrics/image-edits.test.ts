import { describe, expect, it } from 'vitest';
import { cropResize, gammaCurve, type Hwc, hsvShift, rmse, saltAndPepper, shift, uniformNoise } from './image-edits';

/** A 4x4 image whose pixel (x, y) is (x/3, y/3, 0.5) mapped to [-1, 1]. */
function ramp(): Hwc {
  const data = new Float32Array(4 * 4 * 3);
  for (let y = 0; y < 4; y++)
    for (let x = 0; x < 4; x++) data.set([(2 * x) / 3 - 1, (2 * y) / 3 - 1, 0], (y * 4 + x) * 3);
  return { data, width: 4, height: 4 };
}

const px = (img: Hwc, x: number, y: number) =>
  Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x + 1) * 3));

describe('copy-preserving image edits', () => {
  it('HSV hue shift: 0 and 360 degrees change nothing, 120 degrees cycles pure colours, grey stays grey', () => {
    const img = ramp();
    expect(rmse(hsvShift(img, 0), img)).toBeLessThan(1e-6);
    expect(rmse(hsvShift(img, 360), img)).toBeLessThan(1e-6);
    const red = { data: Float32Array.of(1, -1, -1), width: 1, height: 1 };
    expect(Array.from(hsvShift(red, 120).data)).toEqual([-1, 1, -1]); // red -> green
    expect(Array.from(hsvShift(red, -120).data)).toEqual([-1, -1, 1]); // red -> blue
    const orange = { data: Float32Array.of(1, 0, -1), width: 1, height: 1 }; // hue 30 degrees
    expect(Array.from(hsvShift(orange, 30).data).map((v) => +v.toFixed(6))).toEqual([1, 1, -1]); // -> yellow
    const grey = { data: new Float32Array(12).fill(0.2), width: 2, height: 2 };
    expect(rmse(hsvShift(grey, 45), grey)).toBeLessThan(1e-6);
    // saturation 0 leaves the value (the largest channel) on every channel
    expect(Array.from(hsvShift(orange, 0, 0).data)).toEqual([1, 1, 1]);
  });

  it('gamma: 1 changes nothing, below 1 brightens, above 1 darkens, black and white stay', () => {
    const img = ramp();
    expect(rmse(gammaCurve(img, 1), img)).toBeLessThan(1e-6);
    expect(px(gammaCurve(img, 0.6), 1, 0)[0]).toBeGreaterThan(px(img, 1, 0)[0]);
    expect(px(gammaCurve(img, 1.6), 1, 0)[0]).toBeLessThan(px(img, 1, 0)[0]);
    expect(px(gammaCurve(img, 0.6), 0, 0)[0]).toBe(-1);
    expect(px(gammaCurve(img, 0.6), 3, 0)[0]).toBeCloseTo(1, 6);
    expect(() => gammaCurve(img, 0)).toThrow(RangeError);
  });

  it('shift moves the content and repeats the edge', () => {
    const img = ramp();
    const moved = shift(img, 1, 0);
    expect(px(moved, 2, 1)).toEqual(px(img, 1, 1));
    expect(px(moved, 0, 1)).toEqual(px(img, 0, 1));
    expect(rmse(shift(img, 0, 0), img)).toBe(0);
  });

  it('crop-and-resize of the whole image is the image; a smaller window zooms in', () => {
    const img = ramp();
    expect(rmse(cropResize(img, 0, 0, 4), img)).toBeLessThan(1e-6);
    const zoomed = cropResize(img, 1, 1, 2);
    // the corners of the output sit inside the 2x2 window at (1..2, 1..2)
    expect(px(zoomed, 0, 0)[0]).toBeCloseTo(px(img, 1, 1)[0], 6);
    expect(px(zoomed, 3, 3)[1]).toBeCloseTo(px(img, 2, 2)[1], 6);
    expect(() => cropResize(img, 2, 2, 3)).toThrow(/outside/);
  });

  it('noise is seeded, bounded and clamped', () => {
    const img = ramp();
    const a = uniformNoise(img, 0.2, 7);
    expect(uniformNoise(img, 0.2, 7).data).toEqual(a.data);
    expect(rmse(uniformNoise(img, 0.2, 8), a)).toBeGreaterThan(0);
    for (let i = 0; i < a.data.length; i++) {
      expect(Math.abs(a.data[i] - img.data[i])).toBeLessThanOrEqual(0.2 + 1e-6);
      expect(Math.abs(a.data[i])).toBeLessThanOrEqual(1);
    }
    const sp = saltAndPepper({ data: new Float32Array(3000), width: 1000, height: 1 }, 0.1, 3);
    const hit = Array.from({ length: 1000 }, (_, p) => sp.data[3 * p]).filter((v) => v !== 0);
    expect(hit.length).toBeGreaterThan(60);
    expect(hit.length).toBeLessThan(140);
    expect(hit.every((v) => v === 1 || v === -1)).toBe(true);
  });
});
