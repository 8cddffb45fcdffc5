/**
 * The UI-side handle on the inference worker (see worker-client.ts for the recovery rules): a
 * worker that crashes, closes itself or stops answering is replaced, the last model load is
 * replayed, and the caller is told — so the user sees a notice instead of a lab that silently stops.
 */
import type { WorkerEvent, WorkerRequest } from './protocol';
import { type WorkerClientOptions, WorkerClient, type WorkerPort, type WorkerProtocol } from './worker-client';

/** The slice of Worker the client uses; tests pass a fake. */
export type WorkerLike = WorkerPort<WorkerRequest, WorkerEvent>;

export interface ClientCallbacks {
  onEvent(event: WorkerEvent): void;
  /** the worker was lost; `reloading`: a fresh one runs and the model load is being replayed */
  onCrash(message: string, reloading: boolean): void;
  /** a fresh worker runs after a loss */
  onRestarted?(): void;
}

export interface InferenceClientLike {
  send(request: WorkerRequest): void;
  dispose(): void;
}

export function spawnInferenceWorker(): WorkerLike {
  // The name must not start with "em-pthread": ORT gives that name to its own thread workers.
  return new Worker(new URL('./inference.worker.ts', import.meta.url), {
    type: 'module',
    name: 'memlab-inference',
  }) as unknown as WorkerLike;
}

/** Building a session can hold the worker's event loop (WASM compiles on it); allow for it. */
const SESSION_PATIENCE_MS = 180_000;

export const inferenceProtocol: WorkerProtocol<WorkerRequest, WorkerEvent> = {
  name: 'inference worker',
  isReplayed: (request) => request.type === 'load',
  isAnswered: (request) => request.type !== 'cancel' && request.type !== 'connect',
  answers(event) {
    switch (event.type) {
      case 'ready':
      case 'result':
      case 'bench':
      case 'science-result':
      case 'error':
        return event.id;
      default:
        return null;
    }
  },
  refusal: (request, message) => ({ type: 'error', id: request.id, request: request.type, kind: 'protocol', message }),
  transfer: (request) => {
    if (request.type === 'connect' && request.port) return [request.port];
    // reference images travel once, to the worker that decodes them
    if (request.type === 'science' && request.job === 'evaluate' && request.params.references)
      return request.params.references.files.map((f) => f.bytes.buffer as ArrayBuffer);
    return [];
  },
  quietAfter: (event) => (event.type === 'progress' && event.phase === 'session' ? SESSION_PATIENCE_MS : 0),
};

export class InferenceClient implements InferenceClientLike {
  private readonly client: WorkerClient<WorkerRequest, WorkerEvent>;

  constructor(
    callbacks: ClientCallbacks,
    spawn: () => WorkerLike = spawnInferenceWorker,
    options: Partial<WorkerClientOptions> = {},
  ) {
    this.client = new WorkerClient(
      inferenceProtocol,
      {
        onEvent: (event) => callbacks.onEvent(event),
        onLost: (reason, restarted, replayed) =>
          callbacks.onCrash(
            restarted ? reason : `${reason} It keeps failing, so it was not restarted; reload the page.`,
            restarted && replayed,
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

  send(request: WorkerRequest): void {
    this.client.send(request);
  }

  /** Replace the worker (after a crash, or on purpose). */
  restart(reason: string): void {
    this.client.restart(reason);
  }

  dispose(): void {
    this.client.dispose();
  }
}
