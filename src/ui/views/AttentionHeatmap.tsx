import { useId, useMemo, useState, type Ref } from 'react';
import { format } from 'd3';
import { upsampleBilinear, upsampleNearest } from '../../core/attention/heatmap';
import { rgbaToDataUrl } from './canvas';
import { ColorLegend, LEGEND_HEIGHT } from './ColorLegend';
import { colourizeMap, lut, type SequentialScheme } from './colour';

export interface AttentionHeatmapProps {
  /** the generated image, RGBA [imageHeight, imageWidth, 4] */
  image: Uint8ClampedArray;
  imageWidth: number;
  imageHeight: number;
  /** the token's map, [mapHeight, mapWidth] (a layer's res x res, or a DAAM map at image size); null = image only */
  map: Float32Array | null;
  mapWidth: number;
  mapHeight: number;
  /** the heading drawn above the image, e.g. `“zephyr”` */
  title: string;
  /** a second, smaller line under the title, e.g. `DAAM · all layers · 25 steps` */
  subtitle?: string;
  /** legend title, e.g. "attention (normalised)" */
  legendTitle?: string;
  /** overlay opacity 0..1 */
  opacity: number;
  /** when given, an opacity slider is shown */
  onOpacityChange?: (opacity: number) => void;
  /** colour domain; default [0, max of the map] */
  domain?: readonly [number, number];
  scheme?: SequentialScheme;
  /** 'bilinear' smooths a coarse map (DAAM convention); 'nearest' shows the layer's real cells */
  interpolation?: 'bilinear' | 'nearest';
  /** drawn size of the image in px (the SVG scales down to fit narrow screens) */
  size?: number;
  /** the <svg> element, for exportSvg */
  svgRef?: Ref<SVGSVGElement>;
}

const TITLE_LINE = 18;
const fmt = format('.3~f');

/**
 * The generated image with one token's attention map over it, and a colour legend, in one SVG
 * (so the SVG export is the view itself). Pixels are upscaled here, crisp for the image.
 */
export function AttentionHeatmap({
  image,
  imageWidth,
  imageHeight,
  map,
  mapWidth,
  mapHeight,
  title,
  subtitle,
  legendTitle = 'attention',
  opacity,
  onOpacityChange,
  domain,
  scheme = 'viridis',
  interpolation = 'bilinear',
  size = 256,
  svgRef,
}: AttentionHeatmapProps) {
  const sliderId = useId();
  const [probe, setProbe] = useState<{ x: number; y: number; v: number } | null>(null);
  const scale = size / imageWidth;
  const drawnH = Math.round(imageHeight * scale);

  const imageUrl = useMemo(
    () => rgbaToDataUrl(image, imageWidth, imageHeight, scale),
    [image, imageWidth, imageHeight, scale],
  );

  // Keyed on the domain's values, not the array: callers pass literals such as [0, 1], and a new
  // array on every render would re-encode the overlay (upsampling and a PNG) on every render.
  const fixed = domain !== undefined;
  const [lo, hi] = domain ?? [0, 1];
  const dom = useMemo<[number, number]>(() => {
    if (fixed) return [lo, hi];
    let max = 0;
    if (map) for (let i = 0; i < map.length; i++) if (map[i] > max) max = map[i];
    return [0, max > 0 ? max : 1];
  }, [map, fixed, lo, hi]);

  const overlayUrl = useMemo(() => {
    if (!map) return null;
    if (map.length < mapWidth * mapHeight)
      throw new Error(`map has ${map.length} values, ${mapWidth}x${mapHeight} needs more`);
    // Resample straight to the drawn size so the look does not depend on the SVG viewer's smoothing.
    const resampled =
      interpolation === 'bilinear'
        ? upsampleBilinear(map, mapWidth, mapHeight, size, drawnH)
        : upsampleNearest(map, mapWidth, mapHeight, size, drawnH);
    return rgbaToDataUrl(colourizeMap(resampled, dom, lut(scheme)), size, drawnH);
  }, [map, mapWidth, mapHeight, interpolation, size, drawnH, dom, scheme]);

  const legendW = Math.min(size - 12, 220);
  const titleH = TITLE_LINE * (subtitle ? 2 : 1) + 4;
  const totalH = titleH + drawnH + 10 + LEGEND_HEIGHT;

  function onMove(e: React.PointerEvent<SVGRectElement>) {
    if (!map) return;
    const r = e.currentTarget.getBoundingClientRect();
    const mx = Math.floor(((e.clientX - r.left) / r.width) * mapWidth);
    const my = Math.floor(((e.clientY - r.top) / r.height) * mapHeight);
    if (mx < 0 || my < 0 || mx >= mapWidth || my >= mapHeight) return setProbe(null);
    setProbe({ x: mx, y: my, v: map[my * mapWidth + mx] });
  }

  return (
    <figure className="mv-view mv-heatmap">
      <svg
        ref={svgRef}
        className="mv-heatmap-svg"
        viewBox={`0 0 ${size} ${totalH}`}
        width={size}
        height={totalH}
        role="img"
        aria-label={`${title}${subtitle ? `, ${subtitle}` : ''}. ${map ? `Attention overlay, ${legendTitle}, from ${fmt(dom[0])} to ${fmt(dom[1])}.` : 'No attention map.'}`}
        xmlns="http://www.w3.org/2000/svg"
      >
        <text x={0} y={14} fontSize={14} fontWeight={600} fill="currentColor" className="mv-heatmap-title">
          {title}
        </text>
        {subtitle && (
          <text x={0} y={14 + TITLE_LINE} fontSize={12} fill="currentColor" opacity={0.75}>
            {subtitle}
          </text>
        )}
        <g transform={`translate(0,${titleH})`}>
          <image href={imageUrl} width={size} height={drawnH} preserveAspectRatio="none" />
          {overlayUrl && (
            <image href={overlayUrl} width={size} height={drawnH} opacity={opacity} preserveAspectRatio="none" />
          )}
          <rect
            width={size}
            height={drawnH}
            fill="none"
            stroke="currentColor"
            strokeOpacity={0.3}
            pointerEvents="all"
            onPointerMove={onMove}
            onPointerLeave={() => setProbe(null)}
          />
        </g>
        {map && (
          <ColorLegend
            title={legendTitle}
            scheme={scheme}
            domain={dom}
            width={legendW}
            x={6}
            y={titleH + drawnH + 10}
          />
        )}
      </svg>
      <div className="mv-heatmap-controls">
        {onOpacityChange && (
          <label htmlFor={sliderId} className="mv-slider">
            <span>Overlay {Math.round(opacity * 100)}%</span>
            <input
              id={sliderId}
              type="range"
              min={0}
              max={1}
              step={0.05}
              value={opacity}
              onChange={(e) => onOpacityChange(Number(e.currentTarget.value))}
            />
          </label>
        )}
        <output className="mv-probe" aria-hidden="true">
          {probe ? `x ${probe.x}, y ${probe.y}: ${fmt(probe.v)}` : map ? 'point at the image for values' : ''}
        </output>
      </div>
    </figure>
  );
}
