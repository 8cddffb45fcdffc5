import { useMemo, type ReactNode } from 'react';
import { format } from 'd3';
import { ColorLegendBox } from './ColorLegend';
import { colourizeMap, lut } from './colour';
import { PixelImage } from './PixelImage';
import { absDiff, maxAbs, meanAbsDiff, signedLumaDiff } from './pixels';

export type DiffMode = 'magnitude' | 'signed';

export interface Stat {
  label: string;
  value: number | string;
  /** d3 format specifier for numbers; default ".3f" */
  format?: string;
  /** one line of explanation, shown as a tooltip and read by screen readers */
  hint?: string;
  /** shown after the label, e.g. an info button that explains it */
  info?: ReactNode;
}

export interface DiffImageProps {
  /** RGBA [height, width, 4] each */
  a: Uint8ClampedArray;
  b: Uint8ClampedArray;
  width: number;
  height: number;
  /** 'magnitude': mean |a-b| over RGB (magma); 'signed': luma(b) - luma(a) (PuOr, orange = brighter in b) */
  mode?: DiffMode;
  size?: number;
  /** colour domain upper bound; default the largest difference (so small changes stay visible) */
  max?: number;
}

/** Colour-mapped difference between two images, with its legend. */
export function DiffImage({ a, b, width, height, mode = 'magnitude', size = 192, max }: DiffImageProps) {
  const { rgba, domain, mean } = useMemo(() => {
    const d = mode === 'magnitude' ? absDiff(a, b) : signedLumaDiff(a, b);
    // A floor keeps identical images from stretching noise-free zeros to the full ramp.
    const m = max ?? Math.max(maxAbs(d), 0.02);
    const dom = mode === 'magnitude' ? [0, m] : [-m, 0, m];
    return {
      rgba: colourizeMap(d, dom, lut(mode === 'magnitude' ? 'magma' : 'PuOr')),
      domain: dom,
      mean: meanAbsDiff(a, b),
    };
  }, [a, b, mode, max]);
  const title = mode === 'magnitude' ? '|baseline − pruned|' : 'brightness change';
  return (
    <div className="mv-diff">
      <PixelImage
        rgba={rgba}
        width={width}
        height={height}
        size={size}
        label={`${title}: mean absolute difference ${format('.3f')(mean)} of the full range`}
      />
      <ColorLegendBox
        title={title}
        scheme={mode === 'magnitude' ? 'magma' : 'PuOr'}
        domain={domain}
        width={Math.min(size - 12, 180)}
      />
    </div>
  );
}

export interface ComparisonPanelProps {
  baseline: Uint8ClampedArray;
  pruned: Uint8ClampedArray;
  width: number;
  height: number;
  baselineLabel?: string;
  prunedLabel?: string;
  /** numbers under each image, e.g. similarity to the nearest training image, memorization score */
  baselineStats?: readonly Stat[];
  prunedStats?: readonly Stat[];
  diffMode?: DiffMode;
  onDiffModeChange?: (mode: DiffMode) => void;
  /** drawn size of each image in px */
  size?: number;
  /** extra content after the three figures (e.g. the nearest training image) */
  children?: ReactNode;
}

function Stats({ stats }: { stats?: readonly Stat[] }) {
  if (!stats?.length) return null;
  return (
    <dl className="mv-stats">
      {stats.map((s) => (
        <div key={s.label} title={s.hint} className="mv-stat">
          <dt>
            {s.label}
            {s.info}
          </dt>
          <dd>
            {typeof s.value === 'number' ? format(s.format ?? '.3f')(s.value) : s.value}
            {s.hint && <span className="mv-sr-only"> ({s.hint})</span>}
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** Baseline, pruned, and their difference side by side (stacked on narrow screens). */
export function ComparisonPanel({
  baseline,
  pruned,
  width,
  height,
  baselineLabel = 'Baseline',
  prunedLabel = 'Pruned',
  baselineStats,
  prunedStats,
  diffMode = 'magnitude',
  onDiffModeChange,
  size = 192,
  children,
}: ComparisonPanelProps) {
  const mean = useMemo(() => meanAbsDiff(baseline, pruned), [baseline, pruned]);
  return (
    <section
      className="mv-view mv-comparison"
      aria-label="Baseline and pruned images"
      style={{ ['--mv-image-size' as string]: `${size}px` }}
    >
      <figure>
        <figcaption>{baselineLabel}</figcaption>
        <PixelImage rgba={baseline} width={width} height={height} size={size} label={`${baselineLabel} image`} />
        <Stats stats={baselineStats} />
      </figure>
      <figure>
        <figcaption>{prunedLabel}</figcaption>
        <PixelImage rgba={pruned} width={width} height={height} size={size} label={`${prunedLabel} image`} />
        <Stats stats={prunedStats} />
      </figure>
      <figure>
        <figcaption>
          Difference <small>(mean {format('.1%')(mean)})</small>
        </figcaption>
        <DiffImage a={baseline} b={pruned} width={width} height={height} size={size} mode={diffMode} />
        {onDiffModeChange && (
          <label className="mv-select">
            <span>Show</span>
            <select value={diffMode} onChange={(e) => onDiffModeChange(e.currentTarget.value as DiffMode)}>
              <option value="magnitude">magnitude</option>
              <option value="signed">brightness change</option>
            </select>
          </label>
        )}
      </figure>
      {children}
    </section>
  );
}
