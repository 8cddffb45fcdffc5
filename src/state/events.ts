/**
 * How an inference-worker event changes the store, as a pure function: events of superseded
 * requests are dropped here (by id), so a late step of an old run can never overwrite a newer one.
 * A model becoming ready also applies the pending link (decoded against the new manifest), so the
 * controls never show a stale experiment for the loaded model.
 */
import { decodeExperiment } from '../core/experiment/url-codec';
import type { WorkerEvent } from '../workers/protocol';
import { defaultLayer } from './experiment-state';
import type { LabData, Notice } from './store';

/** `run`: generate once the patch is applied (a valid link that names an experiment). */
export type EventPatch = Partial<LabData> & { notice?: Omit<Notice, 'id'>; run?: boolean };

function readyPatch(state: LabData, event: Extract<WorkerEvent, { type: 'ready' }>): EventPatch {
  const base: EventPatch = {
    status: 'ready',
    progress: null,
    manifest: event.manifest,
    backend: event.backend,
    files: event.files,
    // Drop notices about the failed attempts this load has now replaced, and those that waited for it.
    notices: state.notices.filter((n) => n.action !== 'retry-load' && !n.untilReady),
  };
  // A reload after a worker crash keeps what the user has; a new model or a link applies here.
  if (!state.link) return base;
  const decoded = decodeExperiment(state.link.query, event.manifest);
  const e = decoded.ok ? decoded.experiment : decoded.fallback;
  return {
    ...base,
    prompt: e.prompt,
    seed: e.seed,
    steps: e.steps,
    guidance: e.guidance,
    masks: e.masks,
    link: null,
    experimentReady: true,
    result: null,
    previews: [],
    focus: { ...state.focus, token: null, layer: defaultLayer(event.manifest), head: 'mean', step: 'all' },
    run: decoded.ok && state.link.autoRun,
    // The decoder's message is plain text that never echoes the link's content.
    ...(decoded.ok
      ? {}
      : {
          notice: { level: 'warning' as const, message: `${decoded.message} The default experiment is shown instead.` },
        }),
  };
}

export function reduceEvent(state: LabData, event: WorkerEvent): EventPatch | null {
  switch (event.type) {
    case 'progress':
      if (event.id !== state.loadId) return null;
      return {
        progress: {
          phase: event.phase,
          label: event.label,
          loaded: event.loaded,
          total: event.total,
          fromCache: event.fromCache,
        },
      };

    case 'ready':
      if (event.id !== state.loadId) return null;
      return readyPatch(state, event);

    case 'step': {
      if (event.id !== state.generateId) return null;
      const progress = {
        phase: 'denoise',
        label: 'Denoising',
        loaded: event.step,
        total: event.of,
        fromCache: false,
      } as const;
      // A latent model decodes a preview only every few steps (each costs a VAE call).
      if (event.previews.length === 0) return { progress };
      const last = event.previews.length - 1;
      return {
        previews: [
          ...state.previews,
          {
            step: event.step,
            of: event.of,
            timestep: event.timestep,
            // The experiment's own image is the last variant: the pruned one when anything is pruned.
            image: event.previews[last],
            ...(last > 0 ? { baseline: event.previews[0] } : {}),
            noiseGap: event.noiseGap[last],
          },
        ],
        progress,
      };
    }

    case 'result': {
      if (event.id !== state.generateId || !state.pendingParams) return null;
      const steps = event.timings.stepMs;
      const last = event.images.length - 1;
      const gaps = (v: number) => event.noiseGaps.map((perVariant) => perVariant[v]);
      return {
        status: 'ready',
        progress: null,
        generateId: null,
        result: {
          id: event.id,
          params: state.pendingParams,
          masks: state.pendingMasks ?? {},
          image: event.images[last],
          raw: event.raw[last],
          noiseGaps: gaps(last),
          baseline: last > 0 ? { image: event.images[0], raw: event.raw[0], noiseGaps: gaps(0) } : null,
          tokenIds: event.tokens.ids,
          ...(event.tokens.labels ? { tokenLabels: event.tokens.labels } : {}),
          unknownWords: event.tokens.unknownWords,
          tokenWords: event.tokens.words,
          truncated: event.tokens.truncated,
          totalMs: event.timings.totalMs,
          meanStepMs: steps.length > 0 ? steps.reduce((a, b) => a + b, 0) / steps.length : 0,
          hasAttention: event.sharedAttention === true,
          ...(event.contextOnGpu ? { contextOnGpu: event.contextOnGpu } : {}),
        },
        pendingParams: null,
        pendingMasks: null,
      };
    }

    case 'bench':
    case 'science-progress':
    case 'science-result':
      return null; // the store's science handling (science-state.ts) takes these

    case 'error': {
      if (event.request === 'load') {
        if (event.id !== state.loadId) return null;
        return {
          status: 'failed',
          progress: null,
          loadError: {
            message: event.message,
            ...(event.detail ? { detail: event.detail } : {}),
            retry: event.kind === 'download',
          },
          // "being loaded again" is over: this failure replaces it.
          notices: state.notices.filter((n) => !n.untilReady),
          notice: {
            level: 'error',
            message: event.message,
            ...(event.detail ? { detail: event.detail } : {}),
            // Only where asking again can help (a dropped connection, a busy server); a damaged
            // manifest or file would fail the same way again.
            ...(event.kind === 'download' ? { action: 'retry-load' as const } : {}),
          },
        };
      }
      if (event.request === 'generate') {
        if (event.id !== state.generateId) return null; // superseded: the newer run reports for itself
        const back = {
          status: 'ready' as const,
          progress: null,
          generateId: null,
          pendingParams: null,
          pendingMasks: null,
        };
        if (event.kind === 'cancelled') return { ...back, notice: { level: 'info', message: 'Generation cancelled.' } };
        const detail = event.detail ? { detail: event.detail } : {};
        return { ...back, notice: { level: 'error', message: event.message, ...detail, action: 'retry-generate' } };
      }
      if (event.request === 'bench') return null;
      return { notice: { level: 'error', message: event.message, ...(event.detail ? { detail: event.detail } : {}) } };
    }
  }
}
