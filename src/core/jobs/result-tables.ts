/**
 * Every science job's result as a flat table a researcher opens in a spreadsheet or pandas (one
 * row per prompt, unit or condition), and as JSON with the model it came from. The JSON holds
 * the whole result; the table holds the numbers a reader compares, full precision.
 */
import { csvFormatRows } from 'd3';
import type { Manifest, MaskSpec } from '../manifest';
import type { RateEstimate } from '../metrics/wilson';
import { DETECTORS, type PromptDetection } from '../science/detect';
import type { ConditionResult, EvaluationReport } from '../science/evaluate';
import type { AblationAttribution, NemoLocalization } from '../science/localize';
import type { ProxyConditionResult, ProxyEvaluationReport } from '../science/proxy-evaluate';
import { layerName } from '../science/units';
import type { UniversalScores } from '../science/universal';
import type { VariantReport } from '../science/variants';

export type Cell = string | number | boolean | null;

/** What an exported file is called after the model id: "<model>-<name>.csv". */
export const EXPORT_NAMES: Record<string, string> = {
  detect: 'detection',
  study: 'detection-study',
  attribution: 'head-attribution',
  nemo: 'nemo-neurons',
  universal: 'universal-scores',
  evaluate: 'evaluation',
  'variant-table': 'variant-table',
};

export interface ResultTable {
  columns: string[];
  rows: Cell[][];
}

/** RFC 4180 CSV (d3 quotes what needs quoting); empty cells for null. */
export function tableCsv(table: ResultTable): string {
  const text = (c: Cell) => (c === null ? '' : String(c));
  return `${csvFormatRows([table.columns, ...table.rows.map((r) => r.map(text))])}\n`;
}

/**
 * The result with the model it was measured on, for a file that must say where it came from.
 * JSON has no Infinity or NaN (JSON.stringify writes null, which reads as a measured zero in most
 * tools): they are written as the strings "Infinity", "-Infinity" and "NaN", as the CSV has them.
 */
export function resultJson(manifest: Manifest, job: string, result: unknown): string {
  const keepNonFinite = (_key: string, value: unknown) =>
    typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
  return JSON.stringify({ model: `${manifest.id}@${manifest.version}`, job, result }, keepNonFinite, 2);
}

/** A flat unit index as the grid names it: block index, the model's block name, unit within the block. */
function unitColumns(manifest: Manifest, spec: Pick<MaskSpec, 'units'>, flat: number): Cell[] {
  const layer = Math.floor(flat / spec.units);
  return [layer, layerName(manifest, layer), flat % spec.units];
}

const detectorColumns = DETECTORS.map((d) => d.key);

export function detectionTable(_manifest: Manifest, result: readonly PromptDetection[]): ResultTable {
  return {
    columns: ['prompt', ...detectorColumns, 'wen_per_seed'],
    rows: result.map((d) => [d.prompt, ...DETECTORS.map((k) => d[k.key]), d.wenPerSeed.join(' ')]),
  };
}

export function attributionTable(manifest: Manifest, r: AblationAttribution): ResultTable {
  return {
    columns: [
      'layer',
      'layer_name',
      'unit',
      'memorized_drop',
      'neutral_drop',
      'universal',
      'neutral_change',
      'utility_aware',
    ],
    rows: r.units.map((flat, i) => [
      ...unitColumns(manifest, { units: r.unitsPerLayer }, flat),
      r.memorizedDrop[i],
      r.neutralDrop[i],
      r.universal[i],
      r.neutralChange[i],
      r.utilityAware[i],
    ]),
  };
}

/** Every value neuron's z-score against the neutral reference; which ones the search selected and kept. */
export function nemoTable(manifest: Manifest, r: NemoLocalization): ResultTable {
  const spec = manifest.unet.masks.find((m) => m.name === r.mask);
  const units = spec?.units ?? 1;
  const initial = new Set(r.search.initial);
  const refined = new Set(r.search.refined);
  return {
    columns: ['prompt', 'layer', 'layer_name', 'neuron', 'z', 'selected', 'kept'],
    rows: r.z.map((z, flat) => [
      r.prompt,
      ...unitColumns(manifest, { units }, flat),
      z,
      initial.has(flat),
      refined.has(flat),
    ]),
  };
}

/** Units in pruning order (rank 1 is pruned first). */
export function universalTable(manifest: Manifest, r: UniversalScores): ResultTable {
  const spec = manifest.unet.masks.find((m) => m.name === r.mask);
  const units = spec?.units ?? 1;
  const order = r.scores.map((_, i) => i).sort((a, b) => r.scores[b] - r.scores[a] || a - b);
  return {
    columns: ['rank', 'layer', 'layer_name', 'unit', 'score'],
    rows: order.map((flat, rank) => [rank + 1, ...unitColumns(manifest, { units }, flat), r.scores[flat]]),
  };
}

const rateColumns = (prefix: string) => [`${prefix}`, `${prefix}_lo`, `${prefix}_hi`, `${prefix}_count`, `${prefix}_n`];
const rateCells = (r: RateEstimate | null | undefined): Cell[] =>
  r ? [r.rate, r.lo, r.hi, r.count, r.total] : [null, null, null, null, null];

const conditionColumns = ['condition', 'kind', 'sparsity', 'mask', 'pruned', 'pruned_fraction'];
const conditionCells = (c: ConditionResult | ProxyConditionResult): Cell[] => [
  c.id,
  c.kind,
  c.sparsity,
  c.mask,
  c.pruned,
  c.prunedFraction,
];

/** One row per condition; the organism's replication by both rules, or a loaded model's image-free proxies. */
export function evaluationTable(_manifest: Manifest, r: EvaluationReport | ProxyEvaluationReport): ResultTable {
  if (r.schema === 'memlab-eval-proxy/1')
    return {
      columns: [
        ...conditionColumns,
        'memorized_noise_gap',
        'memorized_noise_gap_ratio',
        'memorized_change',
        'neutral_change',
        ...rateColumns('replication'),
      ],
      rows: r.conditions.map((c) => [
        ...conditionCells(c),
        c.memorizedNoiseGap,
        c.memorizedNoiseGapRatio,
        c.memorizedChange,
        c.neutralChange,
        ...rateCells(c.replication),
      ]),
    };
  return {
    columns: [
      ...conditionColumns,
      ...rateColumns('replication'),
      'replication_rule',
      'own_image_rate',
      ...rateColumns('ratio_rule'),
      'adherence',
      'image_change',
    ],
    rows: r.conditions.map((c) => [
      ...conditionCells(c),
      ...rateCells(c.replication),
      c.replication.rule,
      c.replication.ownImageRate,
      ...rateCells(c.replication.byRule.ratio),
      c.utility.adherence,
      c.utility.imageChange,
    ]),
  };
}

export function variantReportTable(_manifest: Manifest, r: VariantReport): ResultTable {
  return {
    columns: [
      'model',
      'method',
      'stage',
      'mask',
      'pruned_fraction',
      'forgotten',
      ...rateColumns('forgotten_replication'),
      ...rateColumns('other_replication'),
      'adherence',
      'image_change',
      'cost_seconds',
    ],
    rows: r.rows.map((row) => [
      row.model,
      row.method,
      row.stage,
      row.maskLabel,
      row.prunedFraction,
      row.forgotten.join(' '),
      ...rateCells(row.forgottenReplication),
      ...rateCells(row.otherReplication),
      row.utility.adherence,
      row.utility.imageChange,
      row.cost?.seconds ?? null,
    ]),
  };
}
