/**
 * Exports for figures: a view's SVG as a standalone file, and a comparison as a PNG.
 * Browser-only (DOM, canvas).
 */
import { format } from 'd3';
import { rgbaToCanvas } from './canvas';
import { colourizeMap, lut } from './colour';
import type { DiffMode, Stat } from './ComparisonPanel';
import { absDiff, maxAbs, meanAbsDiff, signedLumaDiff } from './pixels';

/** Presentation properties that classes or inheritance (currentColor, CSS variables) may set. */
const INLINED = [
  'fill',
  'fill-opacity',
  'stroke',
  'stroke-opacity',
  'stroke-width',
  'opacity',
  'font-family',
  'font-size',
  'font-weight',
  'text-anchor',
  'dominant-baseline',
  'image-rendering',
] as const;

/**
 * Serialise a rendered <svg> to standalone SVG text: computed styles are inlined because the
 * file will not have the page's stylesheet or CSS variables.
 */
export function serializeSvg(svg: SVGSVGElement, options: { background?: string } = {}): string {
  const clone = svg.cloneNode(true) as SVGSVGElement;
  const src = [svg, ...Array.from(svg.querySelectorAll('*'))];
  const dst = [clone, ...Array.from(clone.querySelectorAll('*'))];
  src.forEach((el, i) => {
    const cs = getComputedStyle(el);
    const style = INLINED.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(';');
    dst[i].setAttribute('style', `${style};${dst[i].getAttribute('style') ?? ''}`);
  });
  clone.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
  clone.setAttribute('xmlns:xlink', 'http://www.w3.org/1999/xlink');
  const vb = svg.viewBox.baseVal;
  if (vb?.width) {
    clone.setAttribute('width', String(vb.width));
    clone.setAttribute('height', String(vb.height));
  }
  clone.removeAttribute('class');
  const bg = options.background ?? getComputedStyle(svg.closest('.mv-view') ?? svg).backgroundColor;
  if (bg && bg !== 'rgba(0, 0, 0, 0)' && bg !== 'transparent') {
    const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    rect.setAttribute('x', String(vb?.x ?? 0));
    rect.setAttribute('y', String(vb?.y ?? 0));
    rect.setAttribute('width', '100%');
    rect.setAttribute('height', '100%');
    rect.setAttribute('fill', bg);
    clone.insertBefore(rect, clone.firstChild);
  }
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(clone)}`;
}

export function svgBlob(svg: SVGSVGElement, options?: { background?: string }): Blob {
  return new Blob([serializeSvg(svg, options)], { type: 'image/svg+xml' });
}

export interface ComparisonPngOptions {
  baseline: Uint8ClampedArray;
  pruned: Uint8ClampedArray;
  width: number;
  height: number;
  baselineLabel?: string;
  prunedLabel?: string;
  baselineStats?: readonly Stat[];
  prunedStats?: readonly Stat[];
  diffMode?: DiffMode;
  /** px per image pixel; default 8 (32 px -> 256 px) */
  scale?: number;
  /** a line under the figure, e.g. the prompt, seed and masks */
  caption?: string;
  background?: string;
  foreground?: string;
}

function statText(s: Stat): string {
  return `${s.label}: ${typeof s.value === 'number' ? format(s.format ?? '.3f')(s.value) : s.value}`;
}

/** Draw baseline | pruned | difference with labels, numbers and the diff legend, and encode a PNG. */
export function comparisonPng(o: ComparisonPngOptions): Promise<Blob> {
  const scale = o.scale ?? 8;
  const mode = o.diffMode ?? 'magnitude';
  const w = o.width * scale;
  const h = o.height * scale;
  const gap = 24;
  const pad = 20;
  const rows = Math.max(o.baselineStats?.length ?? 0, o.prunedStats?.length ?? 0);
  const canvas = document.createElement('canvas');
  canvas.width = pad * 2 + w * 3 + gap * 2;
  canvas.height = pad + 24 + h + 12 + Math.max(rows * 18, 48) + (o.caption ? 26 : 0) + pad;
  const ctx = canvas.getContext('2d');
  if (!ctx) return Promise.reject(new Error('2D canvas unavailable'));
  const fg = o.foreground ?? '#1a1a1a';
  ctx.fillStyle = o.background ?? '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.imageSmoothingEnabled = false;

  const d = mode === 'magnitude' ? absDiff(o.baseline, o.pruned) : signedLumaDiff(o.baseline, o.pruned);
  const m = Math.max(maxAbs(d), 0.02);
  const domain = mode === 'magnitude' ? [0, m] : [-m, 0, m];
  const scheme = mode === 'magnitude' ? 'magma' : 'PuOr';
  const diffRgba = colourizeMap(d, domain, lut(scheme));
  const mean = meanAbsDiff(o.baseline, o.pruned);

  const panels: [string, Uint8ClampedArray, readonly Stat[] | undefined][] = [
    [o.baselineLabel ?? 'Baseline', o.baseline, o.baselineStats],
    [o.prunedLabel ?? 'Pruned', o.pruned, o.prunedStats],
    [`Difference (${mode === 'magnitude' ? 'mean' : 'mean abs'} ${format('.1%')(mean)})`, diffRgba, undefined],
  ];
  const top = pad + 24;
  panels.forEach(([label, rgba, stats], i) => {
    const x = pad + i * (w + gap);
    ctx.fillStyle = fg;
    ctx.font = '600 15px system-ui, sans-serif';
    ctx.fillText(label, x, pad + 14);
    ctx.drawImage(rgbaToCanvas(rgba, o.width, o.height, scale), x, top, w, h);
    ctx.font = '13px system-ui, sans-serif';
    stats?.forEach((s, r) => ctx.fillText(statText(s), x, top + h + 20 + r * 18));
  });

  // Legend for the difference, under its panel.
  const lx = pad + 2 * (w + gap);
  const ly = top + h + 10;
  const table = lut(scheme);
  for (let i = 0; i < w; i++) {
    const k = Math.round((i / (w - 1)) * 255) * 3;
    ctx.fillStyle = `rgb(${table[k]},${table[k + 1]},${table[k + 2]})`;
    ctx.fillRect(lx + i, ly, 1, 10);
  }
  ctx.fillStyle = fg;
  ctx.font = '12px system-ui, sans-serif';
  const f = format('.2f');
  ctx.textAlign = 'left';
  ctx.fillText(f(domain[0]), lx, ly + 24);
  ctx.textAlign = 'right';
  ctx.fillText(f(domain[domain.length - 1]), lx + w, ly + 24);
  ctx.textAlign = 'center';
  ctx.fillText(mode === 'magnitude' ? '|baseline − pruned|' : 'brightness change', lx + w / 2, ly + 24);
  ctx.textAlign = 'left';
  if (o.caption) {
    ctx.font = '13px system-ui, sans-serif';
    ctx.fillText(o.caption, pad, canvas.height - pad);
  }
  return new Promise((resolve, reject) =>
    canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG encoding failed'))), 'image/png'),
  );
}

/** Offer a blob as a file download. */
export function downloadBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  a.click();
  // Revoke later: revoking synchronously can cancel the download in some browsers.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
