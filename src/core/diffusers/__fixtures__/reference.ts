/** Test helpers (not part of the lab): a diffusers folder read from disk with files replaced or removed, and reference tensors. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FolderReader } from '../folder';

export const TINY_SD1 = '../shared/fixtures/tiny-sd1';

/** A FolderReader over `dir` in which `overrides` replace files (a string) or remove them (null). */
export function overlayReader(dir: string, overrides: Record<string, string | null> = {}): FolderReader {
  return {
    async readText(path) {
      if (path in overrides) return overrides[path] ?? undefined;
      const full = join(dir, path);
      return existsSync(full) ? readFileSync(full, 'utf8') : undefined;
    },
    async has(path) {
      if (path in overrides) return overrides[path] !== null;
      const full = join(dir, path);
      return existsSync(full) && statSync(full).isFile();
    },
  };
}

/** A raw little-endian float32 file. */
export function readFloats(path: string): Float32Array {
  const b = readFileSync(path);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
}

/** max |a - b| / max |b| */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return m === 0 ? d : d / m;
}

export interface ReferenceRun {
  id: string;
  prompt: string;
  guidance_scale: number;
  num_inference_steps: number;
  scheduler_class: string;
  timesteps: number[];
  input_ids: { cond: number[]; uncond: number[] };
  tensors: Record<string, string>;
}

export function referenceRuns(): ReferenceRun[] {
  return JSON.parse(readFileSync(join(TINY_SD1, 'reference', 'index.json'), 'utf8')).runs;
}

export function referenceTensor(name: string): Float32Array {
  return readFloats(join(TINY_SD1, 'reference', `${name}.bin`));
}
