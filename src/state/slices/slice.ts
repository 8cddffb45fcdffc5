/**
 * What every slice of the lab store is made with (zustand's slices pattern): the store's set and
 * get over the whole state, and the outside world (deps). Also the request-id counter, which is
 * store state like everything else: every worker request takes the next id.
 */
import type { StateCreator } from 'zustand/vanilla';
import type { LabDeps, LabState } from '../store';

/** A slice creator: its part of the state and actions, with set/get over the whole store. */
export type SliceCreator<T> = (deps: LabDeps) => StateCreator<LabState, [], [], T>;

export type SetLab = Parameters<StateCreator<LabState>>[0];
export type GetLab = () => LabState;

/** The store, as the routing and the slices' event handlers see it. */
export interface LabContext {
  set: SetLab;
  get: GetLab;
  deps: LabDeps;
}

/** The next request id (worker requests and their answers are matched by it). */
export function takeRequestId(ctx: Pick<LabContext, 'set' | 'get'>): number {
  const id = ctx.get().nextRequestId;
  ctx.set({ nextRequestId: id + 1 });
  return id;
}
