/**
 * The UI-side handle on the analysis worker (see worker-client.ts for the recovery rules): a
 * worker that crashes, closes itself or stops answering is replaced with the last init replayed,
 * so analysis degrades to a notice instead of going quiet; once given up on, every request is
 * answered with an error instead of being posted to a dead worker.
 */
import { analysisTransferables, type AnalysisEvent, type AnalysisRequest } from './analysis-protocol';
import { type WorkerClientOptions, WorkerClient, type WorkerPort, type WorkerProtocol } from './worker-client';

export type AnalysisWorkerLike = WorkerPort<AnalysisRequest, AnalysisEvent>;

export interface AnalysisCallbacks {
  onEvent(event: AnalysisEvent): void;
  /** the worker was lost; `restarted`: a fresh one runs (with the last init replayed) */
  onCrash(message: string, restarted: boolean): void;
  /** a fresh worker runs after a loss */
  onRestarted?(): void;
}

export function spawnAnalysisWorker(): AnalysisWorkerLike {
  return new Worker(new URL('./analysis.worker.ts', import.meta.url), {
    type: 'module',
    name: 'memlab-analysis',
  }) as unknown as AnalysisWorkerLike;
}

export const analysisProtocol: WorkerProtocol<AnalysisRequest, AnalysisEvent> = {
  name: 'analysis worker',
  isReplayed: (request) => request.type === 'init',
  isAnswered: (request) => request.type !== 'connect',
  // Every analysis event is the one answer to its request.
  answers: (event) => event.id,
  refusal: (request, message) => ({ type: 'error', id: request.id, request: request.type, message }),
  transfer: analysisTransferables,
};

export class AnalysisClient {
  private readonly client: WorkerClient<AnalysisRequest, AnalysisEvent>;

  constructor(
    callbacks: AnalysisCallbacks,
    spawn: () => AnalysisWorkerLike = spawnAnalysisWorker,
    options: Partial<WorkerClientOptions> = {},
  ) {
    this.client = new WorkerClient(
      analysisProtocol,
      {
        onEvent: (event) => callbacks.onEvent(event),
        onLost: (reason, restarted) =>
          callbacks.onCrash(
            restarted
              ? `${reason} It was restarted; generate again to see scores and heatmaps.`
              : `${reason} It keeps failing, so scores and heatmaps are off until you reload the page.`,
            restarted,
          ),
        onRestarted: () => callbacks.onRestarted?.(),
      },
      spawn,
      options,
    );
  }

  get running(): boolean {
    return this.client.running;
  }

  /** Buffers in the request (images) are transferred: the caller must not reuse them. */
  send(request: AnalysisRequest): void {
    this.client.send(request);
  }

  dispose(): void {
    this.client.dispose();
  }
}
