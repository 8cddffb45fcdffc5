/**
 * The Node reference for browser results: the same core pipeline with onnxruntime-node on the same
 * model files, at the same graph optimisation level, converted to the same 8-bit RGBA.
 */
import { join } from 'node:path';
import { chwToRgba } from '../src/core/image';
import { allOnes } from '../src/core/masks';
import { generate } from '../src/core/pipeline';
import { loadNodeModel } from '../src/node/runner';
import { ROOT } from './harness';

export interface ReferenceParams {
  prompt: string;
  seed: number;
  steps: number;
  guidance: number;
}

export async function referenceImage(modelId: string, params: ReferenceParams): Promise<Uint8ClampedArray> {
  const model = await loadNodeModel(join(ROOT, 'public', 'models', modelId), { precision: 'int8', backend: 'node' });
  try {
    const steps = generate(model.runner, model.manifest, {
      ...params,
      variants: [allOnes(model.manifest)],
      captureAttention: false,
    });
    let next = await steps.next();
    while (!next.done) next = await steps.next();
    const { width, height } = model.manifest.image;
    return chwToRgba(next.value.images[0], width, height);
  } finally {
    await model.release();
  }
}

export interface PixelDiff {
  max: number;
  mean: number;
  /** share of channel values that differ at all */
  changed: number;
}

/** Per-channel difference in 0..255 levels over RGB (alpha is always opaque). */
export function pixelDiff(a: ArrayLike<number>, b: ArrayLike<number>): PixelDiff {
  if (a.length !== b.length) throw new Error(`image sizes differ: ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  let changed = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    if (i % 4 === 3) continue;
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
    if (d > 0) changed++;
    n++;
  }
  return { max, mean: sum / n, changed: changed / n };
}

/** Channel standard deviation: a real image varies; a blank or failed canvas does not. */
export function channelSpread(rgba: ArrayLike<number>): number {
  let sum = 0;
  let sq = 0;
  let n = 0;
  for (let i = 0; i < rgba.length; i++) {
    if (i % 4 === 3) continue;
    sum += rgba[i];
    sq += rgba[i] * rgba[i];
    n++;
  }
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sq / n - mean * mean));
}
