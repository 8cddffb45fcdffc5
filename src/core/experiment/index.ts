export * from './experiment';
export * from './url-codec';
