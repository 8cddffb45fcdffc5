/**
 * The UI-side handle on the analysis worker: typed send and events, and a restart (with the last
 * init replayed) when the worker dies, so analysis degrades to a notice instead of going quiet.
 */
import { analysisTransferables, type AnalysisEvent, type AnalysisRequest } from './analysis-protocol';

export interface AnalysisWorkerLike {
  postMessage(message: AnalysisRequest, transfer: Transferable[]): void;
  terminate(): void;
  onmessage: ((ev: MessageEvent<AnalysisEvent>) => void) | null;
  onerror: ((ev: ErrorEvent) => void) | null;
}

export interface AnalysisCallbacks {
  onEvent(event: AnalysisEvent): void;
  onCrash(message: string): void;
}

export function spawnAnalysisWorker(): AnalysisWorkerLike {
  return new Worker(new URL('./analysis.worker.ts', import.meta.url), {
    type: 'module',
    name: 'memlab-analysis',
  }) as unknown as AnalysisWorkerLike;
}

const MAX_RESTARTS = 3;

export class AnalysisClient {
  private worker: AnalysisWorkerLike;
  private lastInit: Extract<AnalysisRequest, { type: 'init' }> | null = null;
  private restarts = 0;

  constructor(
    private readonly callbacks: AnalysisCallbacks,
    private readonly spawn: () => AnalysisWorkerLike = spawnAnalysisWorker,
  ) {
    this.worker = this.start();
  }

  /** Buffers in the request (images, attention) are transferred: the caller must not reuse them. */
  send(request: AnalysisRequest): void {
    if (request.type === 'init') this.lastInit = request;
    this.worker.postMessage(request, analysisTransferables(request));
  }

  private start(): AnalysisWorkerLike {
    const worker = this.spawn();
    worker.onmessage = (ev) => this.callbacks.onEvent(ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      worker.onmessage = worker.onerror = null;
      worker.terminate();
      if (++this.restarts > MAX_RESTARTS) {
        this.callbacks.onCrash(
          'The analysis worker keeps crashing; scores and heatmaps are off until you reload the page.',
        );
        return;
      }
      this.worker = this.start();
      this.callbacks.onCrash(
        'The analysis worker crashed and was restarted; generate again to see scores and heatmaps.',
      );
      if (this.lastInit) this.worker.postMessage(this.lastInit, []);
    };
    return worker;
  }
}
