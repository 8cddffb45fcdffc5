/**
 * `npm run copy-check -- --model <folder> <image.png>...`: does a picture copy the training set?
 * One JSON line per image on stdout, {"image", "nearest", "similarity", "copy"}, decided by a
 * CopyChecker (core/metrics/copy-check.ts):
 *
 *   default               the model's own copy detector (modelCopyChecker below)
 *   --references <dir>    an image embedding against the images of a folder (nearest: file name)
 *   --embedder <onnx>     that embedding is an ONNX model (SSCD, CLIP image encoder); without
 *                         --references it is compared with the model's planted images
 *
 * What the detector is and its threshold go to stderr first, so a reader knows what "copy" meant.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageFileError } from '../core/image-files';
import type { Manifest } from '../core/manifest';
import {
  type CopyChecker,
  detectorCopyChecker,
  embeddingCopyChecker,
  neighbourRatioCopyChecker,
} from '../core/metrics/copy-check';
import { type ImageEncoder, type RgbImage, pixelEncoder } from '../core/metrics/embedding';
import type { ReferenceImage } from '../core/metrics/reference-replication';
import { type Command, runIfMain } from './command';
import { loadCopyDetector } from './copy-detector';
import { type EncoderPreset, loadOnnxEncoder } from './image-encoder';
import { readImageFile, readImageFolder } from './image-files';
import { UsageError, parseCommandLine } from './options';
import { ModelDirError, loadTrainIndex, readManifest } from './runner';

export const COPY_CHECK_USAGE = `usage: npm run copy-check -- --model public/models/<id> <image.png>...
  Prints one JSON line per image: {"image", "nearest", "similarity", "copy"}; a line with "error"
  for an image that cannot be read.
  [--references <folder>]    compare with the PNG/JPEG images of this folder instead of the
                             model's training set ("nearest" is then a file name)
  [--embedder <model.onnx>]  an image-embedding model in ONNX (SSCD, or a CLIP image encoder);
                             without --references it is compared with the model's planted images
  [--preset sscd|clip]       the embedder's input size and normalisation (default sscd: 320x320,
                             ImageNet mean and std, copy above 0.5; clip: 224x224 centre crop)
  [--size N]                 the embedder's input side in pixels, overriding the preset
  [--threshold T]            similarity above which an image is a copy (default: the detector's
                             own; the pixel-space default used with --references alone: 0.9)
  Without --references and --embedder, the model's own copy detector decides: for the organism,
  its copy-detection embedding against its training images with the threshold tau calibrated in
  its verification.json (a model without one: Carlini et al.'s normalised distance over its
  training index with the calibrated alpha). --model may be left out when --references is given.
  Exit status: 0 all images checked, 1 an image or the model could not be read, 2 usage.`;

export interface CopyCheckArgs {
  model?: string;
  references?: string;
  embedder?: string;
  preset: EncoderPreset;
  size?: number;
  threshold?: number;
  images: string[];
}

export function parseCopyCheckArgs(argv: string[]): CopyCheckArgs {
  const { values, positionals } = parseCommandLine(argv, {
    model: { type: 'string' },
    references: { type: 'string' },
    embedder: { type: 'string' },
    preset: { type: 'string', default: 'sscd' },
    size: { type: 'string' },
    threshold: { type: 'string' },
  });
  if (!values.model && !values.references) throw new UsageError('--model (or --references) is required');
  if (positionals.length === 0) throw new UsageError('give at least one image to check');
  if (values.preset !== 'sscd' && values.preset !== 'clip')
    throw new UsageError(`--preset must be sscd or clip, got "${values.preset}"`);
  const size = values.size === undefined ? undefined : Number(values.size);
  if (size !== undefined && !(Number.isInteger(size) && size > 0))
    throw new UsageError(`--size must be a positive whole number, got "${values.size}"`);
  const threshold = values.threshold === undefined ? undefined : Number(values.threshold);
  if (values.threshold !== undefined && (values.threshold.trim() === '' || !Number.isFinite(threshold)))
    throw new UsageError(`--threshold must be a number, got "${values.threshold}"`);
  return {
    model: values.model,
    references: values.references,
    embedder: values.embedder,
    preset: values.preset,
    size,
    threshold,
    images: positionals,
  };
}

/** A calibrated threshold of the model's copy rules: its verification.json, or its base model's for an unlearned variant. */
async function calibrated(
  dir: string,
  manifest: Manifest,
  key: 'alpha' | 'tau',
): Promise<{ value: number; from: string } | null> {
  const places = [join(dir, 'verification.json')];
  if (manifest.variant) places.push(join(dir, '..', manifest.variant.of, 'verification.json'));
  for (const path of places) {
    try {
      const value = (JSON.parse(await readFile(path, 'utf8')) as { threshold?: Record<string, unknown> }).threshold?.[
        key
      ];
      if (typeof value === 'number' && (key === 'tau' || value > 0)) return { value, from: path };
    } catch {
      // not there or not readable: try the next place
    }
  }
  return null;
}

/** The alpha of the model's calibrated ratio rule: its verification.json, or its base model's for an unlearned variant. */
export async function calibratedAlpha(dir: string, manifest: Manifest): Promise<{ alpha: number; from: string }> {
  const found = await calibrated(dir, manifest, 'alpha');
  if (found) return { alpha: found.value, from: found.from };
  throw new ModelDirError(
    `${dir} has no calibrated copy rule (threshold.alpha in verification.json): run npm run model:verify -- --model ${dir}, or give --references`,
  );
}

/**
 * The model's own copy detector: its copy-detection embedding with the tau of its verification
 * when it ships one, else the lab's neighbour-ratio rule over its training index.
 */
export async function modelCopyChecker(
  dir: string,
): Promise<{ detector: CopyChecker; notes: string[]; release(): Promise<void> }> {
  const manifest = await readManifest(dir);
  if (manifest.files?.copyDetector) {
    const tau = await calibrated(dir, manifest, 'tau');
    if (!tau)
      throw new ModelDirError(
        `${dir} has no calibrated copy detector (threshold.tau in verification.json): run npm run model:verify -- --model ${dir}, or give --references`,
      );
    const detector = (await loadCopyDetector(dir, manifest))!;
    return {
      detector: detectorCopyChecker(detector, tau.value, manifest.image.width),
      notes: [`tau from ${tau.from}`],
      release: () => detector.release(),
    };
  }
  const [train, { alpha, from }] = await Promise.all([loadTrainIndex(dir, manifest), calibratedAlpha(dir, manifest)]);
  return { detector: neighbourRatioCopyChecker(train, alpha), notes: [`alpha from ${from}`], release: async () => {} };
}

/** The model's planted images as references named by their training index. */
async function plantedReferences(dir: string): Promise<ReferenceImage[]> {
  const manifest = await readManifest(dir);
  const train = await loadTrainIndex(dir, manifest);
  const n = train.size * train.size * 3;
  return Array.from({ length: train.memorizedCount }, (_, k) => ({
    id: String(k),
    image: { data: train.memorized.subarray(k * n, (k + 1) * n), width: train.size, height: train.size },
  }));
}

/** The detector the arguments ask for, plus lines for stderr and what to release afterwards. */
export async function copyCheckerFor(
  args: CopyCheckArgs,
): Promise<{ detector: CopyChecker; notes: string[]; numericIds: boolean; release(): Promise<void> }> {
  if (!args.references && !args.embedder) {
    const { detector, notes, release } = await modelCopyChecker(args.model!);
    return { detector, notes, numericIds: true, release };
  }
  let encoder: ImageEncoder = pixelEncoder(32);
  let release = async () => {};
  if (args.embedder)
    ({ encoder, release } = await loadOnnxEncoder(args.embedder, { preset: args.preset, size: args.size }));
  try {
    const threshold = args.threshold ?? encoder.threshold;
    if (threshold === undefined)
      throw new UsageError(`${encoder.id} has no copy threshold by convention: give --threshold`);
    let references: ReferenceImage[];
    const notes: string[] = [];
    if (args.references) {
      let folder;
      try {
        folder = await readImageFolder(args.references);
      } catch (e) {
        throw e instanceof ImageFileError ? new ModelDirError(e.message) : e;
      }
      for (const f of folder.failed) notes.push(`skipped reference ${f.file}: ${f.reason}`);
      if (folder.images.length === 0)
        throw new ModelDirError(`${args.references} holds no PNG or JPEG image that could be read`);
      references = folder.images;
      notes.push(`${references.length} reference images from ${args.references}`);
    } else {
      references = await plantedReferences(args.model!);
      notes.push(`${references.length} planted images of ${args.model}`);
    }
    const detector = await embeddingCopyChecker(encoder, references, threshold);
    return { detector, notes, numericIds: !args.references, release };
  } catch (e) {
    await release();
    throw e;
  }
}

export type CopyCheckLine =
  | { image: string; nearest: number | string; similarity: number; copy: boolean }
  | { image: string; error: string };

/** Checks every image; unreadable ones get an error line, the others one verdict each, in order. */
export async function runCopyCheck(
  args: CopyCheckArgs,
  log: (line: string) => void = () => {},
): Promise<CopyCheckLine[]> {
  const { detector, notes, numericIds, release } = await copyCheckerFor(args);
  try {
    log(`copy detector ${detector.id}: ${detector.description}`);
    for (const n of notes) log(n);
    const read: (RgbImage | string)[] = [];
    for (const path of args.images) {
      try {
        read.push(await readImageFile(path));
      } catch (e) {
        if (!(e instanceof ImageFileError)) throw e;
        read.push(e.message);
      }
    }
    const ok = read.filter((r): r is RgbImage => typeof r !== 'string');
    const verdicts = await detector.check(ok);
    let k = 0;
    return read.map((r, i) => {
      if (typeof r === 'string') return { image: args.images[i], error: r };
      const v = verdicts[k++];
      const nearest = numericIds && typeof v.nearest === 'string' ? Number(v.nearest) : v.nearest;
      return { image: args.images[i], nearest, similarity: Number(v.similarity.toFixed(6)), copy: v.copy };
    });
  } finally {
    await release();
  }
}

export const copyCheckCommand: Command = {
  usage: COPY_CHECK_USAGE,
  async run(argv) {
    const args = parseCopyCheckArgs(argv);
    const lines = await runCopyCheck(args, (l) => process.stderr.write(`${l}\n`));
    for (const line of lines) console.log(JSON.stringify(line));
    return lines.some((line) => 'error' in line) ? 1 : 0;
  },
};

await runIfMain(import.meta.url, copyCheckCommand);
