/**
 * Worker events into the store, in one place: every event of the inference worker and of the
 * analysis worker, and the loss of either, enters here and is handed to the slice it concerns
 * (seed grid, science, session and generation through the pure reducer in events.ts, analysis).
 * What follows from an event (the analysis request after a result, the run after a link's model
 * is ready) is decided here too, so the path of each event can be read top to bottom.
 */
import type { AnalysisEvent } from '../workers/analysis-protocol';
import type { WorkerEvent } from '../workers/protocol';
import { keepUnchangedMaps } from './analysis-state';
import { defaultToken } from './experiment-state';
import { reduceEvent } from './events';
import { loadShippedPreset } from './shipped-preset';
import { mapsAnswered, requestMaps } from './slices/analysis';
import { modelUrlOf } from './slices/paths';
import { gridEvent, gridReplication, stopGrid } from './slices/seed-grid';
import { scienceEvent } from './slices/science';
import { type LabContext, type SliceCreator, takeRequestId } from './slices/slice';

export interface RoutingActions {
  applyEvent(event: WorkerEvent): void;
  applyAnalysis(event: AnalysisEvent): void;
  /** the inference worker was lost; `reloading`: a fresh one is loading the model again */
  workerCrashed(message: string, reloading: boolean): void;
  /** the analysis worker was lost; `restarted`: a fresh one is loading the training images again */
  analysisCrashed(message: string, restarted: boolean): void;
}

function inferenceEvent(ctx: LabContext, event: WorkerEvent): void {
  if (gridEvent(ctx, event)) return;
  if (scienceEvent(ctx, event)) return;
  const { set, get, deps } = ctx;
  const before = get();
  const patch = reduceEvent(before, event);
  if (!patch) return;
  const { notice, run, ...rest } = patch;
  set(rest);
  if (notice) get().notify(notice.level, notice.message, notice.action, { detail: notice.detail });

  if (event.type === 'ready' && event.id === before.loadId) {
    const id = takeRequestId(ctx);
    deps.analyze({ type: 'init', id, modelUrl: modelUrlOf(before, deps), manifest: event.manifest });
    const lost = before.recovering?.lost;
    if (before.recovering) set({ recovering: null });
    if (lost === 'run')
      get().notify('info', 'The model is loaded again. The run that was lost can be started again.', 'retry-generate');
    if (lost === 'science')
      get().notify('info', 'The model is loaded again. The science job that was running was lost; start it again.');
    if (before.rerunOnReady) set({ rerunOnReady: false });
    if (run || before.rerunOnReady) get().generate();
    loadShippedPreset(ctx, event.manifest);
  }
  if (event.type === 'error' && event.request === 'load' && event.id === before.loadId)
    set({ recovering: null, rerunOnReady: false });

  if (event.type === 'result' && rest.result) {
    const r = rest.result;
    const m = get().manifest;
    // Toggling masks keeps the token the user chose; a new prompt starts on its trigger word.
    const sameTokens = before.result !== null && before.result.tokenIds.join() === r.tokenIds.join();
    const token = sameTokens && before.focus.token !== null ? before.focus.token : m ? defaultToken(m, r.tokenIds) : 0;
    set({ focus: { ...get().focus, token }, scores: null });
    const variants = r.baseline ? [r.baseline, r] : [r];
    deps.analyze({
      type: 'generation',
      id: takeRequestId(ctx),
      generation: r.id,
      // Copies: the store keeps its own images (the request's buffers are transferred).
      variants: variants.map((v) => ({ raw: v.raw.slice(), noiseGaps: v.noiseGaps.slice() })),
    });
    if (r.hasAttention) requestMaps(ctx);
    else set({ maps: null });
  }
}

function analysisEvent(ctx: LabContext, event: AnalysisEvent): void {
  const { set, get } = ctx;
  switch (event.type) {
    case 'ready':
      set({ analysisReady: true });
      return;
    case 'scores':
      if (event.generation === get().result?.id)
        set({ scores: { generation: event.generation, variants: event.variants } });
      return;
    case 'maps': {
      const { type: _t, id, ...maps } = event;
      if (get().mapsRequest !== id) return;
      if (event.generation === get().result?.id) set({ maps: keepUnchangedMaps(get().maps, maps) });
      mapsAnswered(ctx, id);
      return;
    }
    case 'replication':
      gridReplication(ctx, event);
      return;
    case 'error':
      // A heatmap that cannot be drawn (its generation was superseded) is not worth a message.
      if (event.request === 'maps' && mapsAnswered(ctx, event.id)) return;
      if (event.request === 'replicate') gridReplication(ctx, event);
      if (event.request === 'init') {
        get().notify(
          'warning',
          'The training images could not be loaded, so the lab cannot show how close an image is to them.',
          undefined,
          { detail: event.message },
        );
        return;
      }
      get().notify('warning', 'Part of the analysis of this image could not be made.', undefined, {
        detail: event.message,
      });
      return;
  }
}

export const createRouting: SliceCreator<RoutingActions> = (deps) => (set, get) => {
  const ctx: LabContext = { set, get, deps };
  return {
    applyEvent: (event) => inferenceEvent(ctx, event),
    applyAnalysis: (event) => analysisEvent(ctx, event),

    workerCrashed(message, reloading) {
      const s = get();
      const running = s.generateId !== null || s.seedGrid?.status === 'running';
      const lost = s.science.running ? 'science' : running ? 'run' : null;
      stopGrid(ctx);
      set({
        science: { ...s.science, running: null },
        status: reloading ? 'loading' : 'failed',
        generateId: null,
        pendingParams: null,
        pendingMasks: null,
        progress: null,
        manifest: reloading ? s.manifest : null,
        recovering: reloading ? { lost } : null,
      });
      if (reloading) {
        get().notify(
          'error',
          `${message} It was restarted and the model is being loaded again; your experiment is kept.`,
          undefined,
          { untilReady: true },
        );
      } else {
        get().notify('error', message, 'reload-page');
      }
    },

    analysisCrashed(message, restarted) {
      // Its answers in flight are lost with it: nothing may wait for them.
      set({ mapsRequest: null, mapsQueued: false, gridReplies: {}, analysisReady: false });
      get().notify('warning', message, restarted ? undefined : 'reload-page');
    },
  };
};
