export * from './maps';
export * from './scores';
