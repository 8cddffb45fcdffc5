/**
 * Cross-attention heatmaps: pick one token's map out of a layer's probabilities, average heads,
 * upsample to image size, and aggregate DAAM-style over heads, layers and steps.
 *
 * Layouts (all row-major float32):
 * - Layer probabilities, one image, one step: `[heads, pixels, tokens]`, pixels = res*res with
 *   p = y*res + x; each (head, pixel) row is a softmax over tokens. This is one batch row of the
 *   UNet's `cross_attn_probs_i` output `[batch, heads, pixels, tokens]`, which is what the pipeline
 *   keeps per step for the conditional half (StepEvent.attention[layer][variant]).
 * - A map: `[height, width]`, p = y*width + x.
 *
 * DOM-free; functions take an optional `out` so callers in a render loop can reuse buffers.
 */

/** Geometry of one spatial transformer layer (manifest.unet.layers entries satisfy this). */
export interface LayerGeometry {
  readonly resolution: number;
  readonly heads: number;
}

/** One layer's conditional cross-attention probabilities at one step: `[heads, res*res, tokens]`. */
export interface LayerAttention extends LayerGeometry {
  readonly data: Float32Array;
  readonly tokens: number;
}

/** Per step, per layer (manifest order): `[heads, res*res, tokens]` each. */
export type AttentionSteps = readonly (readonly Float32Array[])[];

/** Wrap a layer's array with its geometry, checking the length so later indexing cannot drift. */
export function layerAttention(data: Float32Array, layer: LayerGeometry, tokens: number): LayerAttention {
  const want = layer.heads * layer.resolution * layer.resolution * tokens;
  if (data.length !== want) {
    throw new Error(
      `attention array has ${data.length} values; ${layer.heads} heads x ${layer.resolution}^2 px x ${tokens} tokens needs ${want}`,
    );
  }
  return { data, heads: layer.heads, resolution: layer.resolution, tokens };
}

/**
 * One batch row of a raw `[batch, heads, pixels, tokens]` output as a view (no copy).
 * Which row is conditional depends on the batch layout (the pipeline uses [uncond, cond] per variant).
 */
export function batchRow(output: Float32Array, row: number, layer: LayerGeometry, tokens: number): LayerAttention {
  const size = layer.heads * layer.resolution * layer.resolution * tokens;
  if (row < 0 || (row + 1) * size > output.length) {
    throw new Error(`batch row ${row} is outside an output of ${output.length / size} rows`);
  }
  return layerAttention(output.subarray(row * size, (row + 1) * size), layer, tokens);
}

function checkToken(a: LayerAttention, token: number): void {
  if (!(token >= 0 && token < a.tokens)) throw new Error(`token ${token} outside 0..${a.tokens - 1}`);
}

/** The map of one head for one token: `[res, res]`. */
export function tokenMap(a: LayerAttention, head: number, token: number, out?: Float32Array): Float32Array {
  checkToken(a, token);
  if (!(head >= 0 && head < a.heads)) throw new Error(`head ${head} outside 0..${a.heads - 1}`);
  const pixels = a.resolution * a.resolution;
  const dst = out ?? new Float32Array(pixels);
  const base = head * pixels * a.tokens + token;
  for (let p = 0; p < pixels; p++) dst[p] = a.data[base + p * a.tokens];
  return dst;
}

/** Sum over heads of one token's maps: `[res, res]`. DAAM sums heads, so this is its building block. */
export function headSumMap(a: LayerAttention, token: number, out?: Float32Array): Float32Array {
  checkToken(a, token);
  const pixels = a.resolution * a.resolution;
  const dst = out ?? new Float32Array(pixels);
  dst.fill(0, 0, pixels);
  for (let h = 0; h < a.heads; h++) {
    const base = h * pixels * a.tokens + token;
    for (let p = 0; p < pixels; p++) dst[p] += a.data[base + p * a.tokens];
  }
  return dst;
}

/** Mean over heads of one token's maps: `[res, res]`, still a probability per pixel. */
export function headMeanMap(a: LayerAttention, token: number, out?: Float32Array): Float32Array {
  const dst = headSumMap(a, token, out);
  const pixels = a.resolution * a.resolution;
  for (let p = 0; p < pixels; p++) dst[p] /= a.heads;
  return dst;
}

/** Column (or row) taps for bilinear resampling with half-pixel centres (torch align_corners=false). */
function taps(src: number, dst: number): { i0: Int32Array; i1: Int32Array; w1: Float32Array } {
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const w1 = new Float32Array(dst);
  const scale = src / dst;
  for (let i = 0; i < dst; i++) {
    // Clamp at the borders: edge pixels replicate rather than fade to zero.
    const s = Math.min(Math.max((i + 0.5) * scale - 0.5, 0), src - 1);
    const lo = Math.floor(s);
    i0[i] = lo;
    i1[i] = Math.min(lo + 1, src - 1);
    w1[i] = s - lo;
  }
  return { i0, i1, w1 };
}

function resample(
  src: ArrayLike<number>,
  sw: number,
  sh: number,
  dst: Float32Array,
  dw: number,
  dh: number,
  add: boolean,
): void {
  if (src.length < sw * sh) throw new Error(`map has ${src.length} values, ${sw}x${sh} needs ${sw * sh}`);
  if (dst.length < dw * dh) throw new Error(`output has ${dst.length} values, ${dw}x${dh} needs ${dw * dh}`);
  const cx = taps(sw, dw);
  const cy = taps(sh, dh);
  for (let y = 0; y < dh; y++) {
    const r0 = cy.i0[y] * sw;
    const r1 = cy.i1[y] * sw;
    const wy = cy.w1[y];
    for (let x = 0; x < dw; x++) {
      const x0 = cx.i0[x];
      const x1 = cx.i1[x];
      const wx = cx.w1[x];
      const top = src[r0 + x0] * (1 - wx) + src[r0 + x1] * wx;
      const bottom = src[r1 + x0] * (1 - wx) + src[r1 + x1] * wx;
      const v = top * (1 - wy) + bottom * wy;
      if (add) dst[y * dw + x] += v;
      else dst[y * dw + x] = v;
    }
  }
}

/**
 * Bilinear resize of a `[sh, sw]` map to `[dh, dw]` with half-pixel centres and clamped edges
 * (the convention of torch's interpolate(align_corners=False), so maps match Python tooling).
 * Meant for upsampling; downsampling with it skips pixels rather than averaging them.
 */
export function upsampleBilinear(
  src: ArrayLike<number>,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
  out?: Float32Array,
): Float32Array {
  const dst = out ?? new Float32Array(dw * dh);
  resample(src, sw, sh, dst, dw, dh, false);
  return dst;
}

/** Nearest-neighbour resize: shows the layer's real cells, for when smoothing would mislead. */
export function upsampleNearest(
  src: ArrayLike<number>,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
  out?: Float32Array,
): Float32Array {
  const dst = out ?? new Float32Array(dw * dh);
  for (let y = 0; y < dh; y++) {
    const sy = Math.min(sh - 1, Math.floor(((y + 0.5) * sh) / dh));
    for (let x = 0; x < dw; x++) {
      const sx = Math.min(sw - 1, Math.floor(((x + 0.5) * sw) / dw));
      dst[y * dw + x] = src[sy * sw + sx];
    }
  }
  return dst;
}

export type MapNormalization = 'max' | 'minmax' | 'sum' | 'none';

/**
 * Normalise a map in place. 'max' divides by the maximum (keeps 0 meaning "no attention");
 * 'minmax' stretches to [0, 1] (DAAM's display convention); 'sum' makes it sum to 1.
 * A map that is all zero (or flat, for minmax) becomes all zero instead of NaN.
 */
export function normalizeMap(map: Float32Array, mode: MapNormalization): Float32Array {
  if (mode === 'none' || map.length === 0) return map;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < map.length; i++) {
    const v = map[i];
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
  }
  if (mode === 'max') {
    if (max > 0) for (let i = 0; i < map.length; i++) map[i] /= max;
    else map.fill(0);
  } else if (mode === 'minmax') {
    const span = max - min;
    if (span > 0) for (let i = 0; i < map.length; i++) map[i] = (map[i] - min) / span;
    else map.fill(0);
  } else {
    if (sum !== 0) for (let i = 0; i < map.length; i++) map[i] /= sum;
    else map.fill(0);
  }
  return map;
}

export interface DaamOptions {
  /** output width and height (the image size, 32 for the bundled model) */
  width: number;
  height: number;
  /** layer indices to include; all by default */
  layers?: readonly number[];
  /** step indices (0-based into the captured steps) to include; all by default */
  steps?: readonly number[];
  /** default 'max' */
  normalize?: MapNormalization;
}

function allIndices(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * DAAM heatmap for one token: for every chosen step and layer, sum the token's map over heads,
 * upsample it bilinearly to image size, add it up; then normalise.
 * `steps` must hold the conditional half only (the pipeline already drops the unconditional rows).
 */
export function daamMap(
  steps: AttentionSteps,
  layers: readonly LayerGeometry[],
  tokens: number,
  token: number,
  options: DaamOptions,
  out?: Float32Array,
): Float32Array {
  const { width, height } = options;
  const dst = out ?? new Float32Array(width * height);
  dst.fill(0, 0, width * height);
  const layerIdx = options.layers ?? allIndices(layers.length);
  const stepIdx = options.steps ?? allIndices(steps.length);
  // One scratch buffer per resolution, reused across steps and layers.
  const scratch = new Map<number, Float32Array>();
  for (const s of stepIdx) {
    const step = steps[s];
    if (!step) throw new Error(`step ${s} was not captured (have ${steps.length})`);
    for (const l of layerIdx) {
      const geom = layers[l];
      if (!geom || !step[l]) throw new Error(`layer ${l} missing at step ${s}`);
      const a = layerAttention(step[l], geom, tokens);
      let buf = scratch.get(a.resolution);
      if (!buf) {
        buf = new Float32Array(a.resolution * a.resolution);
        scratch.set(a.resolution, buf);
      }
      headSumMap(a, token, buf);
      resample(buf, a.resolution, a.resolution, dst, width, height, true);
    }
  }
  return normalizeMap(dst, options.normalize ?? 'max');
}

/** DAAM maps for several tokens at once (one array per token, same order). */
export function daamMaps(
  steps: AttentionSteps,
  layers: readonly LayerGeometry[],
  tokens: number,
  which: readonly number[],
  options: DaamOptions,
): Float32Array[] {
  return which.map((t) => daamMap(steps, layers, tokens, t, options));
}
