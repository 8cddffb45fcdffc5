/** An ONNX image-embedding model from a file, through onnxruntime-node (the adapter is core/metrics/onnx-encoder.ts). */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { ImageEncoder } from '../core/metrics/embedding';
import { ENCODER_PRESETS, type ImagePreprocessing, onnxImageEncoder } from '../core/metrics/onnx-encoder';
import { ModelDirError } from './runner';

export type EncoderPreset = keyof typeof ENCODER_PRESETS;

export interface EncoderFileOptions {
  /** preprocessing family (default sscd) */
  preset?: EncoderPreset;
  /** input side in pixels, overriding the preset's */
  size?: number;
  output?: string;
  threads?: number;
}

export async function loadOnnxEncoder(
  path: string,
  options: EncoderFileOptions = {},
): Promise<{ encoder: ImageEncoder; release(): Promise<void> }> {
  const preset = ENCODER_PRESETS[options.preset ?? 'sscd'];
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw new ModelDirError(`cannot read the embedding model ${path} (${(e as NodeJS.ErrnoException).code})`);
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: options.threads ?? 2,
      interOpNumThreads: 1,
    });
  } catch (e) {
    throw new ModelDirError(
      `${path} is not an ONNX model onnxruntime can open (${(e as Error).message.split('\n')[0]})`,
    );
  }
  const preprocessing: ImagePreprocessing = {
    ...preset,
    ...(options.size ? { width: options.size, height: options.size } : {}),
  };
  const encoder = onnxImageEncoder(session, (data, dims) => new ort.Tensor('float32', data, dims), {
    id: `onnx:${basename(path)}`,
    ...preprocessing,
    ...('threshold' in preset ? { threshold: preset.threshold } : {}),
    ...(options.output ? { output: options.output } : {}),
  });
  return { encoder, release: () => session.release() };
}
