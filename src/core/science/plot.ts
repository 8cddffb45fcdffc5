/**
 * Chart geometry for the study's two plots, DOM-free so the React views and the Node CLI's SVG
 * draw the same thing: d3 scales and line generators produce path strings without a document.
 *
 *   ROC      one curve per detector, FPR (x) against TPR (y), with the chance diagonal
 *   Pareto   replication rate (y, lower is better) against utility (x: adherence, higher is better)
 *            for the universal masks and the random controls across sparsities, plus the unpruned
 *            model and NeMo as single points
 * Colours are the Okabe-Ito palette (safe for the common colour-vision deficiencies), and every
 * series also differs by dash pattern or marker shape, so colour is never the only cue.
 */
import { line, scaleLinear, symbol, symbolCircle, symbolDiamond, symbolSquare, symbolTriangle } from 'd3';
import type { ConditionKind, ConditionResult, EvaluationReport } from './evaluate';
import type { ProxyConditionResult } from './proxy-evaluate';
import type { DetectorRoc } from './study';

export const OKABE_ITO = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
const DASHES = ['', '6 3', '2 3', '8 3 2 3', '1 2'];

export interface Frame {
  width: number;
  height: number;
  margin: { top: number; right: number; bottom: number; left: number };
}

export const DEFAULT_FRAME: Frame = { width: 420, height: 320, margin: { top: 12, right: 12, bottom: 44, left: 48 } };

function inner(frame: Frame) {
  return {
    w: frame.width - frame.margin.left - frame.margin.right,
    h: frame.height - frame.margin.top - frame.margin.bottom,
  };
}

export interface Tick {
  value: number;
  pos: number;
  label: string;
}

export interface RocSeries {
  key: string;
  label: string;
  colour: string;
  dash: string;
  path: string;
  auc: number;
  tprAt1PctFpr: number;
}

export interface RocGeometry {
  frame: Frame;
  series: RocSeries[];
  diagonal: string;
  xTicks: Tick[];
  yTicks: Tick[];
}

function ticks(scale: ReturnType<typeof scaleLinear<number, number>>, n: number, fmt: (v: number) => string): Tick[] {
  return scale.ticks(n).map((value) => ({ value, pos: scale(value), label: fmt(value) }));
}

const pct = (v: number) => `${Math.round(v * 100)}%`;

/** ROC curves in plot coordinates (origin at the inner frame's top-left). */
export function rocGeometry(rocs: readonly DetectorRoc[], frame: Frame = DEFAULT_FRAME): RocGeometry {
  const { w, h } = inner(frame);
  const x = scaleLinear().domain([0, 1]).range([0, w]);
  const y = scaleLinear().domain([0, 1]).range([h, 0]);
  const path = line<{ fpr: number; tpr: number }>()
    .x((p) => x(p.fpr))
    .y((p) => y(p.tpr));
  return {
    frame,
    series: rocs.map((r, i) => ({
      key: r.key,
      label: `${r.label} (${r.paper})`,
      colour: OKABE_ITO[i % OKABE_ITO.length],
      dash: DASHES[i % DASHES.length],
      path: path(r.roc.points) ?? '',
      auc: r.roc.auc,
      tprAt1PctFpr: r.roc.tprAt1PctFpr,
    })),
    diagonal: `M${x(0)},${y(0)}L${x(1)},${y(1)}`,
    xTicks: ticks(x, 5, pct),
    yTicks: ticks(y, 5, pct),
  };
}

export interface ParetoPoint {
  id: string;
  x: number;
  y: number;
  /** utility (adherence) and replication rate */
  utility: number;
  replication: number;
  sparsity: number | null;
  label: string;
}

export interface ParetoSeries {
  kind: ConditionKind;
  label: string;
  colour: string;
  dash: string;
  /** d3 symbol path centred on (0, 0) */
  marker: string;
  path: string;
  points: ParetoPoint[];
}

export interface ParetoGeometry {
  frame: Frame;
  series: ParetoSeries[];
  xTicks: Tick[];
  yTicks: Tick[];
  xLabel: string;
  yLabel: string;
  /** a point's two values in words, for its tooltip */
  pointText: (p: ParetoPoint) => string;
}

const isProxy = (c: ConditionResult | ProxyConditionResult): c is ProxyConditionResult => 'memorizedNoiseGapRatio' in c;

const KIND_STYLE: Record<
  ConditionKind,
  { label: string; colour: string; dash: string; marker: Parameters<typeof symbol>[0] }
> = {
  universal: { label: 'universal mask', colour: OKABE_ITO[0], dash: '', marker: symbolCircle },
  random: { label: 'random mask (same size)', colour: OKABE_ITO[1], dash: '6 3', marker: symbolSquare },
  nemo: { label: 'NeMo (per prompt)', colour: OKABE_ITO[2], dash: '', marker: symbolTriangle },
  none: { label: 'no pruning', colour: OKABE_ITO[7], dash: '', marker: symbolDiamond },
};

/**
 * Replication rate against utility across sparsities, one series per condition kind present. A
 * report without reference images (proxy-evaluate.ts) is drawn by its proxies instead: the
 * memorized prompts' noise gap as a share of the unpruned model's (y) against how far the mask
 * changes neutral images (x, lower is better); with reference images, by replication (y) instead.
 */
export function paretoGeometry(
  conditions: readonly (ConditionResult | ProxyConditionResult)[],
  frame: Frame = DEFAULT_FRAME,
): ParetoGeometry {
  const { w, h } = inner(frame);
  const proxy = conditions.some(isProxy);
  const referenced = proxy && conditions.every((c) => isProxy(c) && c.replication);
  const xOf = (c: ConditionResult | ProxyConditionResult) => (isProxy(c) ? c.neutralChange : c.utility.adherence);
  const yOf = (c: ConditionResult | ProxyConditionResult) =>
    isProxy(c)
      ? referenced
        ? c.replication!.rate
        : Number.isFinite(c.memorizedNoiseGapRatio)
          ? c.memorizedNoiseGapRatio
          : 0
      : c.replication.rate;
  // x from a round value just below the worst utility (adherence is a share in [0, 1]) to 1;
  // proxies: image change from 0 to a round value above the largest
  const worst = Math.min(1, ...conditions.map(xOf));
  const x = proxy
    ? scaleLinear()
        .domain([0, Math.max(0.01, ...conditions.map(xOf)) * 1.1])
        .nice()
        .range([0, w])
    : scaleLinear()
        .domain([Math.max(0, Math.floor((worst - 0.05) * 10) / 10), 1])
        .range([0, w]);
  const y = scaleLinear()
    .domain([0, proxy && !referenced ? Math.max(1, ...conditions.map(yOf)) * 1.1 : 1])
    .range([h, 0]);
  const order: ConditionKind[] = ['universal', 'random', 'nemo', 'none'];
  const series: ParetoSeries[] = [];
  for (const kind of order) {
    const members = conditions.filter((c) => c.kind === kind).sort((a, b) => (a.sparsity ?? 0) - (b.sparsity ?? 0));
    if (members.length === 0) continue;
    const style = KIND_STYLE[kind];
    const points = members.map((c) => ({
      id: c.id,
      x: x(xOf(c)),
      y: y(yOf(c)),
      utility: xOf(c),
      replication: yOf(c),
      sparsity: c.sparsity,
      label:
        c.sparsity === null
          ? style.label
          : `${style.label}, ${(c.sparsity * 100).toFixed(c.sparsity < 0.01 ? 1 : 0)}% pruned`,
    }));
    series.push({
      kind,
      label: style.label,
      colour: style.colour,
      dash: style.dash,
      marker: symbol(style.marker, 48)() ?? '',
      path:
        points.length > 1
          ? (line<ParetoPoint>()
              .x((p) => p.x)
              .y((p) => p.y)(points) ?? '')
          : '',
      points,
    });
  }
  return {
    frame,
    series,
    xTicks: ticks(x, 5, proxy ? (v) => v.toFixed(2) : pct),
    yTicks: ticks(y, 5, pct),
    xLabel: proxy ? 'neutral images changed (RMSE, lower is better)' : 'utility: scene adherence on neutral prompts',
    yLabel: referenced
      ? 'replication on memorized prompts with a reference image'
      : proxy
        ? 'memorized noise gap, share of unpruned'
        : 'replication rate on memorized prompts',
    pointText: referenced
      ? (p) => `replication ${pct(p.replication)}, neutral change ${p.utility.toFixed(3)}`
      : proxy
        ? (p) => `noise gap ${pct(p.replication)} of unpruned, neutral change ${p.utility.toFixed(3)}`
        : (p) => `replication ${pct(p.replication)}, adherence ${pct(p.utility)}`,
  };
}

function paretoTitle(conditions: readonly (ConditionResult | ProxyConditionResult)[]): string {
  if (!conditions.some(isProxy)) return 'Replication vs utility across sparsities';
  return conditions.every((c) => isProxy(c) && c.replication)
    ? 'Replication vs image change (reference images)'
    : 'Noise gap vs image change (no reference images)';
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function axesSvg(frame: Frame, xTicks: Tick[], yTicks: Tick[], xLabel: string, yLabel: string): string {
  const { w, h } = inner(frame);
  const parts = [
    `<line x1="0" y1="${h}" x2="${w}" y2="${h}" stroke="#000" stroke-opacity="0.6"/>`,
    `<line x1="0" y1="0" x2="0" y2="${h}" stroke="#000" stroke-opacity="0.6"/>`,
  ];
  for (const t of xTicks)
    parts.push(
      `<g transform="translate(${t.pos},${h})"><line y2="4" stroke="#000"/><text y="16" text-anchor="middle" font-size="10">${t.label}</text></g>`,
    );
  for (const t of yTicks)
    parts.push(
      `<g transform="translate(0,${t.pos})"><line x2="${w}" stroke="#000" stroke-opacity="0.1"/><text x="-6" dy="0.32em" text-anchor="end" font-size="10">${t.label}</text></g>`,
    );
  parts.push(`<text x="${w / 2}" y="${h + 34}" text-anchor="middle" font-size="11">${esc(xLabel)}</text>`);
  parts.push(
    `<text transform="translate(${-36},${h / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(yLabel)}</text>`,
  );
  return parts.join('');
}

/** A self-contained SVG document: ROC (left) and Pareto (right), each with its legend below. */
export function reportSvg(
  report:
    | Pick<EvaluationReport, 'detection' | 'conditions' | 'model'>
    | {
        detection: EvaluationReport['detection'];
        conditions: ProxyConditionResult[];
        model: { id: string; version: string };
      },
): string {
  const frame = DEFAULT_FRAME;
  const roc = rocGeometry(report.detection.rocs, frame);
  const pareto = paretoGeometry(report.conditions, frame);
  const legendRows = Math.max(roc.series.length, pareto.series.length);
  const height = 30 + frame.height + 16 + legendRows * 16 + 8;
  const width = 2 * frame.width + 20;
  const m = frame.margin;
  const rocBody = roc.series
    .map(
      (s) =>
        `<path d="${s.path}" fill="none" stroke="${s.colour}" stroke-width="2" stroke-dasharray="${s.dash}"><title>${esc(s.label)}: AUC ${s.auc.toFixed(3)}</title></path>`,
    )
    .join('');
  const rocLegend = roc.series
    .map(
      (s, i) =>
        `<g transform="translate(0,${i * 16})"><line x2="22" y1="6" y2="6" stroke="${s.colour}" stroke-width="2" stroke-dasharray="${s.dash}"/><text x="28" y="10" font-size="10">${esc(s.label)} AUC ${s.auc.toFixed(3)}, TPR@1%FPR ${s.tprAt1PctFpr.toFixed(2)}</text></g>`,
    )
    .join('');
  const paretoBody = pareto.series
    .map(
      (s) =>
        (s.path
          ? `<path d="${s.path}" fill="none" stroke="${s.colour}" stroke-width="2" stroke-dasharray="${s.dash}"/>`
          : '') +
        s.points
          .map(
            (p) =>
              `<path transform="translate(${p.x},${p.y})" d="${s.marker}" fill="${s.colour}" stroke="#fff"><title>${esc(p.label)}: ${esc(pareto.pointText(p))}</title></path>`,
          )
          .join(''),
    )
    .join('');
  const paretoLegend = pareto.series
    .map(
      (s, i) =>
        `<g transform="translate(0,${i * 16})"><line x2="22" y1="6" y2="6" stroke="${s.colour}" stroke-width="2" stroke-dasharray="${s.dash}"/><path transform="translate(11,6)" d="${s.marker}" fill="${s.colour}"/><text x="28" y="10" font-size="10">${esc(s.label)}</text></g>`,
    )
    .join('');
  const title = `${report.model.id}@${report.model.version}`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" role="img" aria-labelledby="t">`,
    `<title id="t">Memorization study of ${esc(title)}: detection ROC and replication/utility Pareto curve</title>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${m.left}" y="18" font-size="13" font-weight="600">Detection ROC: memorized vs neutral prompts</text>`,
    `<text x="${frame.width + 20 + m.left}" y="18" font-size="13" font-weight="600">${paretoTitle(report.conditions)}</text>`,
    `<g transform="translate(${m.left},${30 + m.top})">${axesSvg(frame, roc.xTicks, roc.yTicks, 'false-positive rate (neutral)', 'true-positive rate (memorized)')}<path d="${roc.diagonal}" stroke="#000" stroke-opacity="0.35" stroke-dasharray="3 3"/>${rocBody}</g>`,
    `<g transform="translate(${frame.width + 20 + m.left},${30 + m.top})">${axesSvg(frame, pareto.xTicks, pareto.yTicks, pareto.xLabel, pareto.yLabel)}${paretoBody}</g>`,
    `<g transform="translate(${m.left},${30 + frame.height + 8})">${rocLegend}</g>`,
    `<g transform="translate(${frame.width + 20 + m.left},${30 + frame.height + 8})">${paretoLegend}</g>`,
    `</svg>`,
  ].join('\n');
}
