/**
 * Colour scales for the views. Only colour-blind-safe schemes: perceptually uniform sequential maps
 * (viridis, cividis, magma) and diverging PuOr / RdBu. DOM-free so it is unit-tested in Node.
 */
import { interpolateCividis, interpolateMagma, interpolatePuOr, interpolateRdBu, interpolateViridis, rgb } from 'd3';

export type SequentialScheme = 'viridis' | 'cividis' | 'magma';
export type DivergingScheme = 'PuOr' | 'RdBu';
export type Scheme = SequentialScheme | DivergingScheme;

const interpolators: Record<Scheme, (t: number) => string> = {
  viridis: interpolateViridis,
  cividis: interpolateCividis,
  magma: interpolateMagma,
  // Positive ("more") is the warm end: d3's PuOr already ends orange, its RdBu starts red, so flip it.
  PuOr: interpolatePuOr,
  RdBu: (t) => interpolateRdBu(1 - t),
};

export function interpolator(scheme: Scheme): (t: number) => string {
  return interpolators[scheme];
}

export function isDiverging(scheme: Scheme): scheme is DivergingScheme {
  return scheme === 'PuOr' || scheme === 'RdBu';
}

/** Position in [0, 1] of v on a sequential [lo, hi] or diverging [lo, mid, hi] domain, clamped. */
export function unitPosition(v: number, domain: readonly number[]): number {
  let t: number;
  if (domain.length === 3) {
    const [lo, mid, hi] = domain;
    t =
      v < mid
        ? 0.5 * (mid - lo === 0 ? 1 : (v - lo) / (mid - lo))
        : 0.5 + 0.5 * (hi - mid === 0 ? 0 : (v - mid) / (hi - mid));
  } else {
    const [lo, hi] = domain;
    t = hi === lo ? 0 : (v - lo) / (hi - lo);
  }
  return Number.isFinite(t) ? Math.min(1, Math.max(0, t)) : 0;
}

/** A CSS colour for one value. */
export function colourFor(v: number, domain: readonly number[], scheme: Scheme): string {
  return interpolators[scheme](unitPosition(v, domain));
}

/** 256 RGB entries of a scheme, so colouring a map is a table lookup per pixel. */
export function lut(scheme: Scheme, n = 256): Uint8Array {
  const table = new Uint8Array(n * 3);
  const f = interpolators[scheme];
  for (let i = 0; i < n; i++) {
    const c = rgb(f(i / (n - 1)));
    table[i * 3] = c.r;
    table[i * 3 + 1] = c.g;
    table[i * 3 + 2] = c.b;
  }
  return table;
}

/** Colour a scalar map into RGBA pixels (alpha 255) with a lookup table from `lut`. */
export function colourizeMap(
  map: ArrayLike<number>,
  domain: readonly number[],
  table: Uint8Array,
  out?: Uint8ClampedArray,
): Uint8ClampedArray {
  const n = table.length / 3;
  const dst = out ?? new Uint8ClampedArray(map.length * 4);
  for (let i = 0; i < map.length; i++) {
    const k = Math.round(unitPosition(map[i], domain) * (n - 1)) * 3;
    dst[i * 4] = table[k];
    dst[i * 4 + 1] = table[k + 1];
    dst[i * 4 + 2] = table[k + 2];
    dst[i * 4 + 3] = 255;
  }
  return dst;
}

/** Black or white, whichever reads better on a background (WCAG relative luminance). */
export function textOn(background: string): '#000' | '#fff' {
  const c = rgb(background);
  const lin = (v: number) => {
    const s = v / 255;
    return s <= 0.04045 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  const l = 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  // Contrast with black (l+0.05)/0.05 vs with white 1.05/(l+0.05): equal at l ~= 0.179.
  return l > 0.179 ? '#000' : '#fff';
}

/** Domain for a set of scores: [0, max] when all are >= 0, else symmetric [-m, 0, m]. */
export function autoDomain(values: ArrayLike<number>): { domain: number[]; diverging: boolean } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return { domain: [0, 1], diverging: false };
  if (lo >= 0) return { domain: [0, hi > 0 ? hi : 1], diverging: false };
  const m = Math.max(Math.abs(lo), Math.abs(hi));
  return { domain: [-m, 0, m], diverging: true };
}

/** Okabe-Ito qualitative palette (distinguishable under the common colour-vision deficiencies). */
export const categorical = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
