export * from './types';
export * from './parse';
export * from './model-sets';
export * from './references';
export * from './selection';
