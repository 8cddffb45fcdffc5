/**
 * PNG and JPEG files to 8-bit RGB, for reference images and images to check for copies. Pure
 * JavaScript, so the CLI, workers and the browser decode alike: PNG with fast-png (every colour
 * type and bit depth), JPEG with a decoder the caller supplies (the CLI passes jpeg-js when it is
 * installed). Transparency is dropped: the colour under a transparent pixel is kept as stored.
 */
import { convertIndexedToRgb, decode as decodePngFile, hasPngSignature } from 'fast-png';
import type { RgbImage } from './metrics/embedding';

/** An image file that could not be read, with a message for the person who chose it. */
export class ImageFileError extends Error {
  override name = 'ImageFileError';
}

/** Decodes a JPEG to interleaved RGBA or RGB bytes (jpeg-js's decode(bytes, { useTArray: true }) fits). */
export type JpegDecoder = (bytes: Uint8Array) => { width: number; height: number; data: Uint8Array };

export type ImageFileKind = 'png' | 'jpeg';

/** The file's kind from its first bytes (names lie; signatures do not), or null. */
export function imageFileKind(bytes: Uint8Array): ImageFileKind | null {
  if (hasPngSignature(bytes)) return 'png';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  return null;
}

export function decodeImageFile(bytes: Uint8Array, name: string, decoders: { jpeg?: JpegDecoder } = {}): RgbImage {
  const kind = imageFileKind(bytes);
  if (kind === null) throw new ImageFileError(`${name} is not a PNG or JPEG image`);
  if (kind === 'jpeg') {
    if (!decoders.jpeg)
      throw new ImageFileError(`${name} is a JPEG, and no JPEG decoder is available here: convert it to PNG`);
    let d: ReturnType<JpegDecoder>;
    try {
      d = decoders.jpeg(bytes);
    } catch (e) {
      throw new ImageFileError(`${name} could not be decoded as JPEG (${(e as Error).message})`);
    }
    return interleavedToRgb(d.data, d.width, d.height, d.data.length / (d.width * d.height), 8, name);
  }
  let png: ReturnType<typeof decodePngFile>;
  try {
    png = decodePngFile(bytes);
  } catch (e) {
    throw new ImageFileError(`${name} could not be decoded as PNG (${(e as Error).message})`);
  }
  if (png.palette) {
    const rgb = convertIndexedToRgb(png);
    return interleavedToRgb(rgb, png.width, png.height, png.palette[0].length, 8, name);
  }
  return interleavedToRgb(png.data, png.width, png.height, png.channels, png.depth, name);
}

/** Grey, grey + alpha, RGB or RGBA samples of any bit depth to RGB bytes. */
function interleavedToRgb(
  data: Uint8Array | Uint8ClampedArray | Uint16Array,
  width: number,
  height: number,
  channels: number,
  depth: number,
  name: string,
): RgbImage {
  if (![1, 2, 3, 4].includes(channels)) throw new ImageFileError(`${name} has ${channels} colour channels`);
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const max = 2 ** depth - 1;
  const rowSamples = width * channels;
  // below 8 bits, samples are packed into bytes with each row starting on a byte boundary
  const rowBytes = Math.ceil((rowSamples * depth) / 8);
  const sample = (y: number, s: number): number => {
    if (depth >= 8) return data[y * rowSamples + s];
    const bit = s * depth;
    const byte = data[y * rowBytes + (bit >> 3)];
    return (byte >> (8 - depth - (bit & 7))) & max;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const s = x * channels;
      for (let c = 0; c < 3; c++) {
        const v = sample(y, channels >= 3 ? s + c : s);
        out[3 * p + c] = depth === 8 ? v : Math.round((v * 255) / max);
      }
    }
  }
  return { data: out, width, height };
}
