import { encode } from 'fast-png';
import { describe, expect, it } from 'vitest';
import { ImageFileError, decodeImageFile, imageFileKind } from './image-files';

const rgb = Uint8Array.from({ length: 3 * 2 * 3 }, (_, i) => (i * 37) % 256); // 3x2 RGB

describe('decoding image files to RGB', () => {
  it('reads RGB, RGBA, grey and 16-bit PNGs as the same 8-bit RGB', () => {
    const png = (data: Uint8Array | Uint16Array, channels: number, depth: 8 | 16 = 8) =>
      decodeImageFile(encode({ width: 3, height: 2, data, channels, depth }), 'x.png');
    expect(png(rgb, 3)).toEqual({ data: rgb, width: 3, height: 2 });

    const rgba = new Uint8Array(3 * 2 * 4);
    for (let p = 0; p < 6; p++) rgba.set([...rgb.subarray(3 * p, 3 * p + 3), p * 40], 4 * p);
    expect(png(rgba, 4).data).toEqual(rgb);

    const grey = Uint8Array.of(0, 50, 100, 150, 200, 255);
    expect(Array.from(png(grey, 1).data)).toEqual([...grey].flatMap((g) => [g, g, g]));
    const grey16 = Uint16Array.from(grey, (g) => g * 257);
    expect(Array.from(png(grey16, 1, 16).data)).toEqual([...grey].flatMap((g) => [g, g, g]));
  });

  it('reads palette and 1-bit PNGs', () => {
    const palette = encode({
      width: 3,
      height: 2,
      data: Uint8Array.of(0, 1, 2, 2, 1, 0),
      channels: 1,
      depth: 8,
      palette: [
        [255, 0, 0],
        [0, 255, 0],
        [0, 0, 255],
      ],
    });
    expect(Array.from(decodeImageFile(palette, 'p.png').data)).toEqual([
      255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 255, 0, 0,
    ]);
    // 1-bit grey, rows start on byte boundaries: 3 pixels per row -> one byte per row
    const bits = encode({ width: 3, height: 2, data: Uint8Array.of(0b10100000, 0b01000000), channels: 1, depth: 1 });
    expect(Array.from(decodeImageFile(bits, 'b.png').data.filter((_, i) => i % 3 === 0))).toEqual([
      255, 0, 255, 0, 255, 0,
    ]);
  });

  it('knows files by their first bytes and refuses what is not PNG or JPEG, in words', () => {
    expect(imageFileKind(encode({ width: 1, height: 1, data: Uint8Array.of(1, 2, 3), channels: 3 }))).toBe('png');
    expect(imageFileKind(Uint8Array.of(0xff, 0xd8, 0xff, 0xe0))).toBe('jpeg');
    expect(() => decodeImageFile(new TextEncoder().encode('GIF89a...'), 'a.gif')).toThrow(
      new ImageFileError('a.gif is not a PNG or JPEG image'),
    );
    const cut = encode({ width: 3, height: 2, data: rgb, channels: 3 }).slice(0, 40);
    expect(() => decodeImageFile(cut, 'cut.png')).toThrow(/cut\.png could not be decoded as PNG/);
  });

  it('decodes JPEG with the decoder it is given, and says what is missing without one', () => {
    const jpeg = Uint8Array.of(0xff, 0xd8, 0xff, 0xdb, 0, 0);
    expect(() => decodeImageFile(jpeg, 'photo.jpg')).toThrow(/photo\.jpg is a JPEG, and no JPEG decoder is available/);
    const rgba = Uint8Array.of(10, 20, 30, 255, 40, 50, 60, 255);
    const decoded = decodeImageFile(jpeg, 'photo.jpg', { jpeg: () => ({ width: 2, height: 1, data: rgba }) });
    expect(Array.from(decoded.data)).toEqual([10, 20, 30, 40, 50, 60]);
    expect(() =>
      decodeImageFile(jpeg, 'bad.jpg', {
        jpeg: () => {
          throw new Error('SOI not found');
        },
      }),
    ).toThrow(/bad\.jpg could not be decoded as JPEG \(SOI not found\)/);
  });
});
