/**
 * Prompt adherence for the organism's compositional scenes: a deterministic analyser that reads a
 * generated 32x32 scene back into the words of its caption (background, colour, shape, size,
 * position), using manifest.palette, so utility can be measured without a learned classifier.
 *
 * Model of an image (training/memlab/data.py render_scene): a flat background colour, one object
 * of a palette colour drawn with 4x4 supersampling, so every pixel is bg + coverage * (colour - bg).
 *   background  per-channel median of the border pixels -> nearest palette background
 *   colour      the palette colour whose segment bg..colour explains the object pixels best
 *   coverage    each pixel's projection onto that segment, clamped to [0, 1] (small values dropped
 *               as noise); area = sum of coverage, centroid = coverage-weighted pixel centres
 *   shape       for each shape, the radius that gives that area and the centre that gives that
 *               centroid, refined by a short local search; the shape whose rendering (same
 *               supersampled rule as data.py shape_mask) has the highest soft IoU with the coverage
 *   size        nearest palette size to the fitted radius (log scale)
 *   position    nearest palette position to the fitted centre
 * One object per scene: two-object scenes are outside this analyser (their mask would merge).
 */
import type { Manifest } from '../manifest';
import type { ImageData3 } from './pixels';

export type Palette = NonNullable<Manifest['palette']>;

export interface SceneAttributes {
  size: string;
  colour: string;
  shape: string;
  position: string;
  background: string;
}

export interface SceneAnalysis {
  background: string;
  /** measured background colour, 0..255 */
  backgroundRgb: [number, number, number];
  /** false when nothing stands out from the background; the object attributes are then null */
  objectFound: boolean;
  colour: string | null;
  shape: string | null;
  size: string | null;
  position: string | null;
  /** object area in pixels (sum of coverage) */
  area: number;
  /** fitted shape centre and radius, in pixel units (pixel x covers [x, x + 1)) */
  centre: [number, number];
  radius: number;
  /** soft IoU of the fitted rendering per shape; the chosen shape has the highest */
  shapeIou: Record<string, number>;
}

export const SUPERSAMPLE = 4;
/** Coverage below this is treated as background noise (keeps noise from inflating the area). */
const MIN_COVERAGE = 0.2;
/** Pixels closer than this (RGB distance, 0..255 units) to the background are not object evidence. */
const NOISE_FLOOR = 30;
/** Smallest area (pixels) that counts as an object: a small triangle is about 30. */
const MIN_AREA = 4;

/** Area of each shape in units of r^2, from data.py shape_mask's geometry. */
const AREA_FACTOR: Record<string, number> = {
  circle: Math.PI,
  square: 1.7 * 1.7, // half side 0.85 r
  triangle: 1.8, // apex -r, base 0.8 r, base half-width 1.0 r: (1.8 r)(2 r)/2
  cross: 2 * 2 * 0.7 - 0.7 * 0.7, // two 2r x 0.7r arms minus their overlap
};
/** Centroid y minus centre y, in units of r (only the triangle's centroid is off centre). */
const CENTROID_OFFSET_Y: Record<string, number> = { triangle: 0.2 };

/**
 * Whether the supersample point at offset (dx, dy) from the centre lies inside the shape: the same
 * tests, in the same floating-point order, as data.py shape_mask.
 */
export function insideShape(shape: string, dx: number, dy: number, r: number): boolean {
  switch (shape) {
    case 'circle':
      return dx * dx + dy * dy <= r * r;
    case 'square': {
      const s = r * 0.85;
      return Math.abs(dx) <= s && Math.abs(dy) <= s;
    }
    case 'triangle': {
      const top = -r;
      const bottom = 0.8 * r;
      const halfWidth = (r * (dy - top)) / (bottom - top);
      return dy >= top && dy <= bottom && Math.abs(dx) <= halfWidth;
    }
    case 'cross': {
      const arm = r * 0.35;
      return (Math.abs(dx) <= arm && Math.abs(dy) <= r) || (Math.abs(dy) <= arm && Math.abs(dx) <= r);
    }
    default:
      throw new RangeError(`unknown shape ${shape}`);
  }
}

/**
 * Coverage in [0, 1] per pixel (size x size, row-major) of a shape centred at (cx, cy) with radius
 * r: the share of the pixel's 4x4 supersample points inside it, i.e. data.py's shape_mask followed
 * by its box-filter downsample. Only the shape's bounding box is visited.
 */
export function shapeCoverage(
  shape: string,
  cx: number,
  cy: number,
  r: number,
  size = 32,
  out?: Float32Array,
): Float32Array {
  const cov = out ?? new Float32Array(size * size);
  cov.fill(0);
  const reach = r + 1;
  const x0 = Math.max(0, Math.floor(cx - reach));
  const x1 = Math.min(size - 1, Math.ceil(cx + reach));
  const y0 = Math.max(0, Math.floor(cy - reach));
  const y1 = Math.min(size - 1, Math.ceil(cy + reach));
  const inv = 1 / (SUPERSAMPLE * SUPERSAMPLE);
  for (let py = y0; py <= y1; py++) {
    for (let px = x0; px <= x1; px++) {
      let k = 0;
      for (let j = 0; j < SUPERSAMPLE; j++) {
        // (index + 0.5) / 4 exactly as data.py's grid, so edge samples agree bit for bit
        const dy = (py * SUPERSAMPLE + j + 0.5) / SUPERSAMPLE - cy;
        for (let i = 0; i < SUPERSAMPLE; i++) {
          if (insideShape(shape, (px * SUPERSAMPLE + i + 0.5) / SUPERSAMPLE - cx, dy, r)) k++;
        }
      }
      cov[py * size + px] = k * inv;
    }
  }
  return cov;
}

/** Pixels as 0..255 RGB floats, HWC, from either accepted layout. */
function toRgb255(image: ImageData3, size: number): Float32Array {
  const n = size * size * 3;
  if (image.length !== n)
    throw new RangeError(`expected a ${size}x${size} RGB image (${n} values), got ${image.length}`);
  const out = new Float32Array(n);
  if (image instanceof Float32Array) {
    const plane = size * size;
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[3 * p + c] = (image[c * plane + p] + 1) * 127.5;
  } else {
    out.set(image);
  }
  return out;
}

function median(values: number[]): number {
  const v = values.slice().sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function nearestName(table: Record<string, readonly number[]>, point: readonly number[]): string {
  let best = '';
  let bestD = Infinity;
  for (const [name, ref] of Object.entries(table)) {
    let d = 0;
    for (let i = 0; i < point.length; i++) d += (point[i] - ref[i]) ** 2;
    if (d < bestD) {
      bestD = d;
      best = name;
    }
  }
  return best;
}

function softIou(a: Float32Array, b: Float32Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += Math.min(a[i], b[i]);
    union += Math.max(a[i], b[i]);
  }
  return union > 0 ? inter / union : 0;
}

interface Fit {
  cx: number;
  cy: number;
  r: number;
  iou: number;
}

/** Moment estimate, then coordinate search over centre and radius (handles clipping at the border). */
function fitShape(
  shape: string,
  coverage: Float32Array,
  area: number,
  mx: number,
  my: number,
  size: number,
  scratch: Float32Array,
): Fit {
  const r0 = Math.sqrt(area / AREA_FACTOR[shape]);
  let best: Fit = { cx: mx, cy: my - (CENTROID_OFFSET_Y[shape] ?? 0) * r0, r: r0, iou: 0 };
  best.iou = softIou(coverage, shapeCoverage(shape, best.cx, best.cy, best.r, size, scratch));
  for (const step of [1, 0.5, 0.25]) {
    let improved = true;
    for (let round = 0; improved && round < 8; round++) {
      improved = false;
      for (const [dx, dy, dr] of [
        [step, 0, 0],
        [-step, 0, 0],
        [0, step, 0],
        [0, -step, 0],
        [0, 0, step / 2],
        [0, 0, -step / 2],
      ]) {
        const c = { cx: best.cx + dx, cy: best.cy + dy, r: Math.max(0.5, best.r + dr), iou: 0 };
        c.iou = softIou(coverage, shapeCoverage(shape, c.cx, c.cy, c.r, size, scratch));
        if (c.iou > best.iou + 1e-9) {
          best = c;
          improved = true;
        }
      }
    }
  }
  return best;
}

/** Read a single-object scene (RGB bytes HWC or CHW float in [-1, 1]) back into caption words. */
export function analyzeScene(image: ImageData3, palette: Palette, size = 32): SceneAnalysis {
  const rgb = toRgb255(image, size);
  const border: number[][] = [[], [], []];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (y !== 0 && x !== 0 && y !== size - 1 && x !== size - 1) continue;
      for (let c = 0; c < 3; c++) border[c].push(rgb[(y * size + x) * 3 + c]);
    }
  }
  // Median, not mean: an object at the left or top can cover part of the border.
  const bg: [number, number, number] = [median(border[0]), median(border[1]), median(border[2])];
  const background = nearestName(palette.backgrounds, bg);
  const none: SceneAnalysis = {
    background,
    backgroundRgb: bg,
    objectFound: false,
    colour: null,
    shape: null,
    size: null,
    position: null,
    area: 0,
    centre: [Number.NaN, Number.NaN],
    radius: 0,
    shapeIou: {},
  };

  // Object colour: the palette colour c minimising the residual of pixel = bg + a (c - bg), a in [0, 1].
  const plane = size * size;
  const far: number[] = [];
  for (let p = 0; p < plane; p++) {
    const d = Math.hypot(rgb[3 * p] - bg[0], rgb[3 * p + 1] - bg[1], rgb[3 * p + 2] - bg[2]);
    if (d > NOISE_FLOOR) far.push(p);
  }
  if (far.length === 0) return none;
  let colour = '';
  let bestResidual = Infinity;
  for (const [name, c] of Object.entries(palette.colours)) {
    const dir = [c[0] - bg[0], c[1] - bg[1], c[2] - bg[2]];
    const len2 = dir[0] ** 2 + dir[1] ** 2 + dir[2] ** 2;
    if (len2 === 0) continue;
    let residual = 0;
    for (const p of far) {
      const v = [rgb[3 * p] - bg[0], rgb[3 * p + 1] - bg[1], rgb[3 * p + 2] - bg[2]];
      const a = Math.min(1, Math.max(0, (v[0] * dir[0] + v[1] * dir[1] + v[2] * dir[2]) / len2));
      residual += (v[0] - a * dir[0]) ** 2 + (v[1] - a * dir[1]) ** 2 + (v[2] - a * dir[2]) ** 2;
    }
    if (residual < bestResidual) {
      bestResidual = residual;
      colour = name;
    }
  }

  const c = palette.colours[colour];
  const dir = [c[0] - bg[0], c[1] - bg[1], c[2] - bg[2]];
  const len2 = dir[0] ** 2 + dir[1] ** 2 + dir[2] ** 2;
  const coverage = new Float32Array(plane);
  let area = 0;
  let mx = 0;
  let my = 0;
  for (let p = 0; p < plane; p++) {
    const v0 = rgb[3 * p] - bg[0];
    const v1 = rgb[3 * p + 1] - bg[1];
    const v2 = rgb[3 * p + 2] - bg[2];
    let a = Math.min(1, Math.max(0, (v0 * dir[0] + v1 * dir[1] + v2 * dir[2]) / len2));
    if (a < MIN_COVERAGE) a = 0;
    coverage[p] = a;
    area += a;
    mx += a * ((p % size) + 0.5);
    my += a * (Math.floor(p / size) + 0.5);
  }
  if (area < MIN_AREA) return { ...none, colour };
  mx /= area;
  my /= area;

  const scratch = new Float32Array(plane);
  const shapeIou: Record<string, number> = {};
  let best: (Fit & { shape: string }) | null = null;
  for (const shape of palette.shapes) {
    if (!(shape in AREA_FACTOR)) continue;
    const fit = fitShape(shape, coverage, area, mx, my, size, scratch);
    shapeIou[shape] = fit.iou;
    if (!best || fit.iou > best.iou) best = { ...fit, shape };
  }
  if (!best) return { ...none, colour };

  let sizeName = '';
  let sizeD = Infinity;
  for (const [name, radius] of Object.entries(palette.sizes)) {
    const d = Math.abs(Math.log(best.r / radius));
    if (d < sizeD) {
      sizeD = d;
      sizeName = name;
    }
  }
  return {
    background,
    backgroundRgb: bg,
    objectFound: true,
    colour,
    shape: best.shape,
    size: sizeName,
    position: nearestName(palette.positions, [best.cx, best.cy]),
    area,
    centre: [best.cx, best.cy],
    radius: best.r,
    shapeIou,
  };
}

/**
 * The intended attributes of a single-object caption from the scene grammar ("a large red circle
 * at the top on a gray background"), or null when it is not one (two objects, missing words).
 */
export function parseSceneCaption(caption: string, palette: Palette): SceneAttributes | null {
  const words: string[] = caption.toLowerCase().match(/[a-z]+/g) ?? [];
  if (words.includes('and')) return null;
  const find = (names: readonly string[]) => {
    const hits = words.filter((w) => names.includes(w));
    return hits.length === 1 ? hits[0] : null;
  };
  const bgAt = words.indexOf('background');
  const background = bgAt > 0 && Object.hasOwn(palette.backgrounds, words[bgAt - 1]) ? words[bgAt - 1] : null;
  const size = find(Object.keys(palette.sizes));
  const colour = find(Object.keys(palette.colours));
  const shape = find(palette.shapes);
  const position = find(Object.keys(palette.positions));
  if (!background || !size || !colour || !shape || !position) return null;
  return { size, colour, shape, position, background };
}

export const ATTRIBUTES = ['background', 'colour', 'shape', 'size', 'position'] as const;
export type Attribute = (typeof ATTRIBUTES)[number];

export interface AdherenceScore {
  /** per attribute: did the scene show what the prompt asked for */
  correct: Record<Attribute, boolean>;
  /** share of the five attributes that are right */
  score: number;
}

/** Compare an analysis with the prompt's intended attributes. */
export function adherenceScore(analysis: SceneAnalysis, intended: SceneAttributes): AdherenceScore {
  const correct = {} as Record<Attribute, boolean>;
  let k = 0;
  for (const a of ATTRIBUTES) {
    correct[a] = analysis[a] === intended[a];
    if (correct[a]) k++;
  }
  return { correct, score: k / ATTRIBUTES.length };
}

/** Per-attribute accuracy over many scenes (0 for none): the utility side of a pruning run. */
export function adherenceRates(scores: readonly AdherenceScore[]): Record<Attribute, number> & { overall: number } {
  const rates = { background: 0, colour: 0, shape: 0, size: 0, position: 0, overall: 0 };
  if (scores.length === 0) return rates;
  for (const s of scores) {
    for (const a of ATTRIBUTES) if (s.correct[a]) rates[a]++;
    rates.overall += s.score;
  }
  for (const key of [...ATTRIBUTES, 'overall'] as const) rates[key] /= scores.length;
  return rates;
}
