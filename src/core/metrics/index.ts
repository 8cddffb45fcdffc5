export * from './pixels';
export * from './replication';
export * from './detection';
export * from './nemo';
export * from './attribution';
export * from './adherence';
