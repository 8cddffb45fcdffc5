/**
 * The seed-grid slice: the same experiment over several seeds, one cell after another (one
 * session, one run at a time), each cell's images scored by the analysis worker.
 */
import { MAX_SEED } from '../../core/experiment/experiment';
import type { AnalysisEvent } from '../../workers/analysis-protocol';
import type { GenerateParams, WorkerEvent } from '../../workers/protocol';
import { gridKey, type SeedGrid } from '../analysis-state';
import { variantsFor } from '../experiment-state';
import type { LabData } from '../store';
import { admission } from './admission';
import { clamp, whole } from './experiment';
import { type LabContext, type SliceCreator, takeRequestId } from './slice';

/** Seeds in the on-demand grid. */
export const SEED_GRID_SIZE = 4;

export interface SeedGridData {
  seedGrid: SeedGrid | null;
  /** replication requests in flight, by request id: which grid (its key) and cell they score */
  gridReplies: Record<number, { key: string; cell: number }>;
}

export interface SeedGridActions {
  runSeedGrid(count: number): void;
}

export type SeedGridSlice = SeedGridData & SeedGridActions;

function gridKeyOf(s: LabData): string {
  return gridKey({
    model: s.manifest?.id ?? '',
    prompt: s.prompt,
    steps: s.steps,
    guidance: s.guidance,
    masks: s.masks,
  });
}

function startGridCell(ctx: LabContext): void {
  const s = ctx.get();
  const grid = s.seedGrid;
  if (!grid || !s.manifest) return;
  const next = grid.cells.findIndex((c) => c.images === null);
  if (next < 0) {
    ctx.set({ seedGrid: { ...grid, runningId: null, status: 'done' } });
    return;
  }
  const id = takeRequestId(ctx);
  ctx.set({ seedGrid: { ...grid, runningId: id, status: 'running' } });
  const params: GenerateParams = {
    prompt: s.prompt.trim(),
    seed: grid.cells[next].seed,
    steps: s.steps,
    guidance: s.guidance,
    captureAttention: false,
  };
  ctx.deps.send({ type: 'generate', id, params, variants: variantsFor(s.manifest, s.masks) });
}

/** An inference event for the running grid cell; true when it was one. */
export function gridEvent(ctx: LabContext, event: WorkerEvent): boolean {
  const grid = ctx.get().seedGrid;
  if (!grid || grid.runningId === null || !('id' in event) || event.id !== grid.runningId) return false;
  if (event.type === 'result') {
    const cell = grid.cells.findIndex((c) => c.images === null);
    const cells = grid.cells.map((c, i) => (i === cell ? { ...c, images: event.images } : c));
    const id = takeRequestId(ctx);
    ctx.set({ seedGrid: { ...grid, cells }, gridReplies: { ...ctx.get().gridReplies, [id]: { key: grid.key, cell } } });
    const variants = event.raw.map((raw, v) => ({ raw, noiseGaps: event.noiseGaps.map((g) => g[v]) }));
    ctx.deps.analyze({ type: 'replicate', id, variants });
    startGridCell(ctx);
  } else if (event.type === 'error') {
    ctx.set({ seedGrid: { ...grid, runningId: null, status: 'stopped' } });
  }
  return true;
}

/** The analysis worker's answer to a grid cell's replication request; true when it was one. */
export function gridReplication(
  ctx: LabContext,
  event: Extract<AnalysisEvent, { type: 'replication' | 'error' }>,
): boolean {
  const replies = ctx.get().gridReplies;
  const reply = replies[event.id];
  if (!reply) return false;
  const { [event.id]: _answered, ...rest } = replies;
  ctx.set({ gridReplies: rest });
  const grid = ctx.get().seedGrid;
  if (event.type === 'replication' && grid && grid.key === reply.key) {
    const cells = grid.cells.map((c, i) => (i === reply.cell ? { ...c, scores: event.variants } : c));
    ctx.set({ seedGrid: { ...grid, cells } });
  }
  return true;
}

/** The worker running the grid was lost: the grid stops where it is. */
export function stopGrid(ctx: LabContext): void {
  const grid = ctx.get().seedGrid;
  if (grid?.status === 'running') ctx.set({ seedGrid: { ...grid, runningId: null, status: 'stopped' } });
}

export const createSeedGridSlice: SliceCreator<SeedGridSlice> = (deps) => (set, get) => ({
  seedGrid: null,
  gridReplies: {},

  runSeedGrid(count) {
    const s = get();
    if (!s.manifest || s.status !== 'ready') return;
    const admitted = admission(s, 'generate');
    if (admitted.action === 'refuse') {
      s.notify('info', admitted.message);
      return;
    }
    const n = clamp(whole(count, SEED_GRID_SIZE), 1, 16);
    const cells = Array.from({ length: n }, (_, i) => ({
      seed: (s.seed + i) % (MAX_SEED + 1),
      images: null,
      scores: null,
    }));
    set({ seedGrid: { key: gridKeyOf(s), cells, runningId: null, status: 'running' } });
    startGridCell({ set, get, deps });
  },
});
