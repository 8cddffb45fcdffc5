export { AttentionHeatmap, type AttentionHeatmapProps } from './AttentionHeatmap';
export { ColorLegend, ColorLegendBox, LEGEND_HEIGHT, type ColorLegendProps } from './ColorLegend';
export {
  ComparisonPanel,
  DiffImage,
  type ComparisonPanelProps,
  type DiffImageProps,
  type DiffMode,
  type Stat,
} from './ComparisonPanel';
export { HeadGrid, type HeadGridLayer, type HeadGridProps, type HeadRef } from './HeadGrid';
export { LayerSummaryChart, summarySeries, type LayerSummaryChartProps, type SummarySeries } from './LayerSummaryChart';
export { NeuronStrip, type NeuronStripProps } from './NeuronStrip';
export type { ScoreCellsProps } from './scoreCells';
export { PixelImage, type PixelImageProps } from './PixelImage';
export { TokenStrip, type TokenStripProps } from './TokenStrip';
export { stripTokens, type StripOptions, type StripToken, type TokenLabel, tokenLabeller } from './tokens';
export { chwToRgba, rgbToRgba, absDiff, signedLumaDiff, meanAbsDiff } from './pixels';
export { comparisonPng, downloadBlob, serializeSvg, svgBlob } from './export';
export type { Scheme, SequentialScheme, DivergingScheme } from './colour';
