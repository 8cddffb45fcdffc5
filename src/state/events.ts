/**
 * How a worker event changes the store, as a pure function: events of superseded requests are
 * dropped here (by id), so a late step of an old run can never overwrite a newer one.
 */
import type { WorkerEvent } from '../workers/protocol';
import type { LabData, Notice } from './store';

export type EventPatch = Partial<LabData> & { notice?: Omit<Notice, 'id'> };

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

    case 'ready': {
      if (event.id !== state.loadId) return null;
      const first = state.manifest === null && state.prompt === '';
      const d = event.manifest.defaults;
      return {
        status: 'ready',
        progress: null,
        manifest: event.manifest,
        backend: event.backend,
        files: event.files,
        // Drop notices about the failed attempts this load has now replaced.
        notices: state.notices.filter((n) => n.action !== 'retry-load'),
        // The model's own defaults apply on first load; later loads keep what the user typed.
        ...(first
          ? {
              prompt: event.manifest.memorized[0]?.caption ?? event.manifest.trainPromptsSample[0] ?? '',
              steps: d.steps,
              guidance: d.guidance,
              seed: d.seed,
            }
          : {}),
      };
    }

    case 'step': {
      if (event.id !== state.generateId) return null;
      return {
        previews: [
          ...state.previews,
          {
            step: event.step,
            of: event.of,
            timestep: event.timestep,
            image: event.previews[0],
            noiseGap: event.noiseGap[0],
          },
        ],
        progress: { phase: 'denoise', label: 'Denoising', loaded: event.step, total: event.of, fromCache: false },
      };
    }

    case 'result': {
      if (event.id !== state.generateId || !state.pendingParams) return null;
      const steps = event.timings.stepMs;
      return {
        status: 'ready',
        progress: null,
        generateId: null,
        result: {
          params: state.pendingParams,
          image: event.images[0],
          raw: event.raw[0],
          noiseGaps: event.noiseGaps.map((perVariant) => perVariant[0]),
          unknownWords: event.tokens.unknownWords,
          tokenWords: event.tokens.words,
          truncated: event.tokens.truncated,
          totalMs: event.timings.totalMs,
          meanStepMs: steps.length > 0 ? steps.reduce((a, b) => a + b, 0) / steps.length : 0,
          ...(event.attention ? { attention: event.attention } : {}),
        },
        pendingParams: null,
      };
    }

    case 'error': {
      if (event.request === 'load') {
        if (event.id !== state.loadId) return null;
        return {
          status: 'failed',
          progress: null,
          notice: {
            level: 'error',
            message: event.message,
            // Retrying is offered for every load failure: even a bad session start can be transient.
            action: 'retry-load',
          },
        };
      }
      if (event.request === 'generate') {
        if (event.id !== state.generateId) return null; // superseded: the newer run reports for itself
        const back = { status: 'ready' as const, progress: null, generateId: null, pendingParams: null };
        if (event.kind === 'cancelled') return { ...back, notice: { level: 'info', message: 'Generation cancelled.' } };
        return { ...back, notice: { level: 'error', message: event.message, action: 'retry-generate' } };
      }
      return { notice: { level: 'error', message: event.message } };
    }
  }
}
