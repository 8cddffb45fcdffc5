/**
 * The UI-side handle on the inference worker: typed send, typed events, and crash recovery.
 * A worker that dies (out of memory, a WASM abort) is replaced, the last model load is replayed,
 * and the caller is told — so the user sees a notice instead of a lab that silently stops.
 */
import type { WorkerEvent, WorkerRequest } from './protocol';

/** The slice of Worker the client uses; tests pass a fake. */
export interface WorkerLike {
  postMessage(message: WorkerRequest): void;
  terminate(): void;
  onmessage: ((ev: MessageEvent<WorkerEvent>) => void) | null;
  onerror: ((ev: ErrorEvent) => void) | null;
  onmessageerror: ((ev: MessageEvent) => void) | null;
}

export interface ClientCallbacks {
  onEvent(event: WorkerEvent): void;
  /** the worker died and was restarted; `reloading` says whether the model load is being replayed */
  onCrash(message: string, reloading: boolean): void;
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

const MAX_CRASHES = 3;
const CRASH_WINDOW_MS = 60_000;

export class InferenceClient implements InferenceClientLike {
  private worker: WorkerLike;
  private lastLoad: Extract<WorkerRequest, { type: 'load' }> | null = null;
  private disposed = false;
  private recentCrashes: number[] = [];

  constructor(
    private readonly callbacks: ClientCallbacks,
    private readonly spawn: () => WorkerLike = spawnInferenceWorker,
  ) {
    this.worker = this.start();
  }

  send(request: WorkerRequest): void {
    if (this.disposed) {
      // Answer anyway, so no caller waits for a worker that is gone.
      const message = 'The inference worker is stopped; reload the page.';
      this.callbacks.onEvent({ type: 'error', id: request.id, request: request.type, kind: 'protocol', message });
      return;
    }
    if (request.type === 'load') this.lastLoad = request;
    this.worker.postMessage(request);
  }

  /** Replace the worker (after a crash, or on purpose). */
  restart(reason: string): void {
    if (this.disposed) return;
    this.worker.onmessage = this.worker.onerror = this.worker.onmessageerror = null;
    this.worker.terminate();
    // A worker that cannot even start would crash-loop; stop after a few tries and say so.
    const now = Date.now();
    this.recentCrashes = [...this.recentCrashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    if (this.recentCrashes.length > MAX_CRASHES) {
      this.disposed = true;
      this.callbacks.onCrash(`${reason} It keeps crashing, so it was not restarted; reload the page.`, false);
      return;
    }
    this.worker = this.start();
    this.callbacks.onCrash(reason, this.lastLoad !== null);
    if (this.lastLoad) this.worker.postMessage(this.lastLoad);
  }

  dispose(): void {
    this.disposed = true;
    this.worker.terminate();
  }

  private start(): WorkerLike {
    const worker = this.spawn();
    worker.onmessage = (ev) => this.callbacks.onEvent(ev.data);
    // An uncaught error inside the worker may leave it in any state; a fresh one is the safe answer.
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.restart(`The inference worker crashed${ev.message ? ` (${ev.message})` : ''}.`);
    };
    worker.onmessageerror = () => this.restart('The inference worker sent a message that could not be read.');
    return worker;
  }
}
