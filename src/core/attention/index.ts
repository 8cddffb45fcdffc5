export * from './heatmap';
export * from './summary';
