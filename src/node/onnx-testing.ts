/**
 * Helpers for tests and benchmarks that run real UNet graphs in onnxruntime-node: fixture paths,
 * sessions over graph bytes whose weights live in external files, seeded inputs and float16 packing.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { readModel } from '../core/onnx/instrument';
import { DataType, encodeModelChunks, type NodeProto } from '../core/onnx/proto';
import { gaussianNoise } from '../core/rng';
import { linkOrCopy, writeChunks } from './model-files';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const SD1 = resolve(ROOT, '../shared/fixtures/tiny-sd1');
export const SD2 = resolve(ROOT, 'test-fixtures/tiny-sd2');

/** The UNet graphs the tests cover: folder, whether onnxruntime's CPU kernels run it, config. */
export const UNET_GRAPHS = {
  'tiny-sd1 plain': { dir: join(SD1, 'unet'), config: join(SD1, 'unet/config.json'), runs: true },
  'tiny-sd1 fused': { dir: join(SD1, 'unet-fused'), config: join(SD1, 'unet/config.json'), runs: true },
  'tiny-sd1 olive-recipe': {
    dir: join(SD1, 'unet-fused/olive-recipe'),
    config: join(SD1, 'unet/config.json'),
    runs: false,
  },
  'tiny-sd2 plain': { dir: join(SD2, 'unet'), config: join(SD2, 'unet/config.json'), runs: true },
  'tiny-sd2 fused': { dir: join(SD2, 'unet-fused'), config: join(SD2, 'unet/config.json'), runs: true },
  'tiny-sd2 fused fp16': { dir: join(SD2, 'unet-fused-fp16'), config: join(SD2, 'unet/config.json'), runs: true },
} as const;
export type UNetGraphName = keyof typeof UNET_GRAPHS;

export function readJson<T = unknown>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** A scratch folder, removed by `dispose`. */
export function scratchDir(prefix = 'memlab-onnx-'): { path: string; dispose: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, dispose: () => rmSync(path, { recursive: true, force: true }) };
}

/**
 * A session over graph bytes that read external weight files from `weightsDir`: the bytes are
 * written into a scratch folder beside hard links to the weight files (onnxruntime-node refuses
 * external data outside the model's folder).
 */
export async function sessionFromChunks(
  chunks: readonly Uint8Array[],
  weightsDir: string,
  weightFiles: readonly string[],
  options: ort.InferenceSession.SessionOptions = { graphOptimizationLevel: 'basic', intraOpNumThreads: 2 },
): Promise<ort.InferenceSession> {
  const dir = scratchDir();
  try {
    for (const f of weightFiles) await linkOrCopy(join(weightsDir, f), join(dir.path, f), true);
    await writeChunks(join(dir.path, 'model.onnx'), chunks);
    return await ort.InferenceSession.create(join(dir.path, 'model.onnx'), options);
  } finally {
    dir.dispose();
  }
}

/** float32 -> IEEE half bits (round to nearest even), for float16 graph inputs. */
export function toHalf(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < values.length; i++) {
    f[0] = values[i];
    const x = u[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = ((x >>> 23) & 0xff) - 127 + 15;
    let mant = x & 0x7fffff;
    if (exp >= 31) out[i] = sign | 0x7c00;
    else if (exp <= 0) {
      if (exp < -10) out[i] = sign;
      else {
        mant |= 0x800000;
        const shift = 14 - exp;
        const half = mant >> shift;
        const rest = mant & ((1 << shift) - 1);
        const mid = 1 << (shift - 1);
        out[i] = sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
      }
    } else {
      const half = (exp << 10) | (mant >> 13);
      const rest = mant & 0x1fff;
      out[i] = sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
    }
  }
  return out;
}

export function fromHalf(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    out[i] =
      exp === 0
        ? sign * 2 ** -14 * (frac / 1024)
        : exp === 31
          ? frac
            ? Number.NaN
            : sign * Number.POSITIVE_INFINITY
          : sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return out;
}

export interface UNetFeedShape {
  batch: number;
  channels: number;
  size: number;
  tokens: number;
  width: number;
  half: boolean;
}

/** Seeded UNet inputs: Gaussian sample and text states, timesteps spread over the schedule. */
export function unetFeeds(shape: UNetFeedShape, seed = 1): Record<string, ort.Tensor> {
  const { batch, channels, size, tokens, width, half } = shape;
  const tensor = (data: Float32Array, dims: number[]) =>
    half ? new ort.Tensor('float16', toHalf(data), dims) : new ort.Tensor('float32', data, dims);
  const timesteps = Float32Array.from({ length: batch }, (_, i) => 999 - ((i * 337) % 1000));
  return {
    sample: tensor(gaussianNoise(seed, batch * channels * size * size), [batch, channels, size, size]),
    timestep: tensor(timesteps, [batch]),
    encoder_hidden_states: tensor(gaussianNoise(seed + 1, batch * tokens * width), [batch, tokens, width]),
  };
}

/** A tensor's values as float32 (float16 outputs unpacked). */
export function floats(t: ort.Tensor): Float32Array {
  return t.type === 'float16' ? fromHalf(t.data as Uint16Array) : (t.data as Float32Array);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/**
 * The independent check of a head mask: the graph with the input of one module's to_out.0 MatMul
 * (found by the node name torch gives it) multiplied by zero, float32 graphs.
 */
export function zeroOutputProjectionInput(bytes: Uint8Array, module: string): Uint8Array[] {
  const model = readModel(bytes);
  const graph = model.graph as NonNullable<typeof model.graph>;
  const at = graph.node.findIndex((n) => n.name === `/${module}/to_out.0/MatMul`);
  if (at < 0) throw new Error(`no /${module}/to_out.0/MatMul`);
  const target = graph.node[at];
  const zero: NodeProto = {
    name: 'test/zero',
    opType: 'Mul',
    input: [target.input[0], 'test/zero_value'],
    output: ['test/zeroed'],
    attribute: [],
  };
  graph.initializer = [
    ...graph.initializer,
    { name: 'test/zero_value', dataType: DataType.FLOAT, dims: [], floatData: [0] },
  ];
  target.input[0] = 'test/zeroed';
  graph.node = [...graph.node.slice(0, at), zero, ...graph.node.slice(at)];
  return encodeModelChunks(model);
}

/**
 * A diffusers folder at `dst` made of hard links to `src`'s pipeline parts (model_index.json and
 * the folders it names; other folders such as reference traces are left out), with
 * unet/model.onnx replaced by `unetGraph` when given.
 */
export async function linkedPipeline(src: string, dst: string, unetGraph?: readonly Uint8Array[]): Promise<string> {
  const index = readJson<Record<string, unknown>>(join(src, 'model_index.json'));
  const parts = Object.entries(index)
    .filter(([key, value]) => !key.startsWith('_') && Array.isArray(value) && value[0] !== null)
    .map(([key]) => key);
  const place = async (rel: string) => {
    mkdirSync(dirname(join(dst, rel)), { recursive: true });
    await linkOrCopy(join(src, rel), join(dst, rel), true);
  };
  await place('model_index.json');
  for (const part of parts) {
    for (const entry of readdirSync(join(src, part), { withFileTypes: true })) {
      const rel = join(part, entry.name);
      if (entry.isFile() && !(unetGraph && rel === join('unet', 'model.onnx'))) await place(rel);
    }
  }
  if (unetGraph) await writeChunks(join(dst, 'unet', 'model.onnx'), unetGraph);
  return dst;
}
