/**
 * Reading PNG/JPEG files and folders of them in Node (decoding itself is core/image-files.ts).
 * JPEG support comes from the jpeg-js package when it is installed; without it a JPEG gets a
 * message saying so, and PNGs work as before.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ImageFileError, type JpegDecoder, decodeImageFile } from '../core/image-files';
import type { RgbImage } from '../core/metrics/embedding';
import type { ReferenceImage } from '../core/metrics/reference-replication';
import { type ReferenceMatching, isReferenceImageName, matchReferenceImages } from '../core/prompts/references';
import type { PromptSet } from '../core/prompts/types';

let jpeg: Promise<JpegDecoder | undefined> | undefined;

/** jpeg-js's decoder, if the package is installed (loaded once). */
export function jpegDecoder(): Promise<JpegDecoder | undefined> {
  // The name is held in a variable so that type checking and bundling do not require the package.
  const pkg = 'jpeg-js';
  jpeg ??= import(/* @vite-ignore */ pkg).then(
    (m: { decode: (b: Uint8Array, o: object) => { width: number; height: number; data: Uint8Array } }) =>
      (bytes: Uint8Array) =>
        m.decode(bytes, { useTArray: true, formatAsRGBA: true }),
    () => undefined,
  );
  return jpeg;
}

export async function readImageFile(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new ImageFileError(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const jpegDecode = await jpegDecoder();
  try {
    return decodeImageFile(bytes, path, { jpeg: jpegDecode });
  } catch (e) {
    if (e instanceof ImageFileError && !jpegDecode && /no JPEG decoder/.test(e.message))
      throw new ImageFileError(
        `${path} is a JPEG; reading JPEG needs the jpeg-js package (npm install jpeg-js), or convert it to PNG`,
      );
    throw e;
  }
}

export interface ImageFolder {
  images: ReferenceImage[];
  /** files that are images by name but could not be read, with why */
  failed: { file: string; reason: string }[];
  /** every file name in the folder */
  files: string[];
}

/** Reads the PNG/JPEG files of a folder (not its subfolders); ids are the file names. */
export async function readImageFolder(dir: string, only?: ReadonlySet<string>): Promise<ImageFolder> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    throw new ImageFileError(
      `cannot read the folder ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const files = entries
    .filter((e) => e.isFile())
    .map((e) => e.name)
    .sort();
  const images: ReferenceImage[] = [];
  const failed: ImageFolder['failed'] = [];
  for (const file of files) {
    if (!isReferenceImageName(file) || (only && !only.has(file))) continue;
    try {
      images.push({ id: basename(file), image: await readImageFile(join(dir, file)) });
    } catch (e) {
      if (!(e instanceof ImageFileError)) throw e;
      failed.push({ file, reason: e.message });
    }
  }
  return { images, failed, files };
}

export interface PromptReferences {
  matching: ReferenceMatching;
  /** the decoded reference of each matched prompt (position in the set -> image) */
  images: Map<number, ReferenceImage>;
  failed: ImageFolder['failed'];
}

/** A prompt set's reference images from a folder: matched by name (core/prompts/references.ts), then decoded. */
export async function readPromptReferences(dir: string, set: PromptSet): Promise<PromptReferences> {
  let files: string[];
  try {
    files = (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
  } catch (e) {
    throw new ImageFileError(
      `cannot read the folder ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  const matching = matchReferenceImages(set, files);
  const folder = await readImageFolder(dir, new Set(matching.matches.map((m) => m.file)));
  const byFile = new Map(folder.images.map((r) => [r.id, r]));
  const images = new Map<number, ReferenceImage>();
  for (const m of matching.matches) {
    const r = byFile.get(m.file);
    if (r) images.set(m.prompt, r);
  }
  return { matching, images, failed: folder.failed };
}
