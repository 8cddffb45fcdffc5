export { RocChart, type RocChartProps } from './RocChart';
export { ParetoChart, type ParetoChartProps } from './ParetoChart';
export { DetectionTable, flagged, type DetectionTableProps } from './DetectionTable';
export { ProxyTable, type ProxyTableProps } from './ProxyTable';
