/**
 * The analysis slice: what the analysis worker answered for the current result (scores, the
 * heatmaps of the focused token, layer, head and step) and what the head grid shows. One maps
 * request is in flight at a time; a focus change meanwhile is queued, and only the latest is sent.
 */
import {
  mapFocus,
  type Focus,
  type HeadHover,
  type Maps,
  type PruningPreset,
  type Scores,
  type UnitScores,
} from '../analysis-state';
import type { LabContext, SliceCreator } from './slice';
import { takeRequestId } from './slice';

export interface AnalysisData {
  /** the analysis worker has the training images (replication scores work) */
  analysisReady: boolean;
  scores: Scores | null;
  focus: Focus;
  hoverHead: HeadHover | null;
  maps: Maps | null;
  /** the maps request in flight (its answer is awaited), and whether a newer focus waits behind it */
  mapsRequest: number | null;
  mapsQueued: boolean;
  /** attribution scores from the science work; null: the grid shows attention mass */
  unitScores: UnitScores | null;
  /** a pruning that removes the memorization, once the science work provides one */
  pruningPreset: PruningPreset | null;
}

export interface AnalysisActions {
  setFocus(focus: Partial<Focus>): void;
  setHoverHead(head: HeadHover | null): void;
  setUnitScores(scores: UnitScores | null): void;
  setPruningPreset(preset: PruningPreset | null): void;
}

export type AnalysisSlice = AnalysisData & AnalysisActions;

/** Ask the analysis worker for the focused maps; one request in flight, the latest focus queued. */
export function requestMaps(ctx: LabContext): void {
  const s = ctx.get();
  const r = s.result;
  if (!r?.hasAttention || s.focus.token === null) return;
  if (s.mapsRequest !== null) {
    ctx.set({ mapsQueued: true });
    return;
  }
  const id = takeRequestId(ctx);
  ctx.set({ mapsRequest: id, mapsQueued: false });
  ctx.deps.analyze({
    type: 'maps',
    id,
    generation: r.id,
    focus: mapFocus(s.focus, s.focus.token, r.baseline ? 2 : 1, s.hoverHead),
  });
}

/** The maps request `id` was answered (maps or an error): send the queued focus, if any. */
export function mapsAnswered(ctx: LabContext, id: number): boolean {
  const s = ctx.get();
  if (id !== s.mapsRequest) return false;
  const queued = s.mapsQueued;
  ctx.set({ mapsRequest: null, mapsQueued: false });
  if (queued) requestMaps(ctx);
  return true;
}

export const createAnalysisSlice: SliceCreator<AnalysisSlice> = (deps) => (set, get) => ({
  analysisReady: false,
  scores: null,
  focus: { token: null, layer: 0, head: 'mean', step: 'all', variant: 'pruned' },
  hoverHead: null,
  maps: null,
  mapsRequest: null,
  mapsQueued: false,
  unitScores: null,
  pruningPreset: null,

  setFocus(focus) {
    set({ focus: { ...get().focus, ...focus } });
    requestMaps({ set, get, deps });
  },

  setHoverHead(head) {
    const prev = get().hoverHead;
    if (prev === head || (prev && head && prev.layer === head.layer && prev.head === head.head)) return;
    set({ hoverHead: head });
    requestMaps({ set, get, deps });
  },

  setUnitScores: (unitScores) => set({ unitScores }),
  setPruningPreset: (pruningPreset) => set({ pruningPreset }),
});
