/**
 * The UI-side handle on a worker, shared by the inference and analysis clients: typed send and
 * events, and recovery from the three ways a worker is lost —
 *  - it crashes (an uncaught error, a WASM abort, an unreadable message): onerror fires;
 *  - it closes itself or is terminated from inside: no event at all;
 *  - it hangs (an endless loop, a blocked call that never returns): no event at all.
 * The last two are caught by a watchdog: while a request awaits its answer, a worker that sends
 * nothing (not even its heartbeat, see heartbeat.ts) for longer than its patience is declared
 * lost. A lost worker is replaced, the request that set it up (the model load) is replayed, and
 * the caller is told; a worker that keeps failing is given up on, and every later request is
 * answered with an error at once, so no caller waits for a worker that is gone.
 */
import { isHeartbeat } from './heartbeat';

/** The slice of Worker a client uses; tests pass a fake. */
export interface WorkerPort<Req, Ev> {
  postMessage(message: Req, transfer: Transferable[]): void;
  terminate(): void;
  onmessage: ((ev: MessageEvent<Ev>) => void) | null;
  onerror: ((ev: ErrorEvent) => void) | null;
  onmessageerror: ((ev: MessageEvent) => void) | null;
}

/** What the base needs to know about one worker's protocol. */
export interface WorkerProtocol<Req extends { type: string; id: number }, Ev> {
  /** how messages name the worker: "The inference worker …" */
  name: string;
  /** the request a fresh worker is given again (the latest model load or init) */
  isReplayed(request: Req): boolean;
  /** whether the worker answers this request (the watchdog waits for answers only) */
  isAnswered(request: Req): boolean;
  /** the request an event answers for good; null for progress and other events */
  answers(event: Ev): number | null;
  /** the event that answers a request a stopped worker cannot take */
  refusal(request: Req, message: string): Ev;
  /** buffers and ports that travel with the request (transferred, not copied) */
  transfer(request: Req): Transferable[];
  /** extra patience after this event, in ms, for a phase known to block the worker (building a session) */
  quietAfter?(event: Ev): number;
}

export interface WorkerLifecycle<Ev> {
  onEvent(event: Ev): void;
  /**
   * The worker was lost. `restarted`: a fresh one runs and `replayed` says whether the setup request
   * was sent to it again; otherwise it kept failing and was given up on.
   */
  onLost(reason: string, restarted: boolean, replayed: boolean): void;
  /** a fresh worker runs (after a loss): give it what it needs besides the replayed request */
  onRestarted?(): void;
}

export interface WorkerClientOptions {
  /** losses tolerated within crashWindowMs; one more and the worker is given up on */
  maxRestarts: number;
  crashWindowMs: number;
  /** how long a worker that owes an answer may stay silent, at least */
  silenceMs: number;
  /** patience is also at least this many times the longest silence seen from a working worker */
  silenceFactor: number;
}

export const DEFAULT_WORKER_OPTIONS: WorkerClientOptions = {
  maxRestarts: 3,
  crashWindowMs: 60_000,
  // Heartbeats come every second; a run blocks the worker's event loop only for one model call.
  silenceMs: 20_000,
  silenceFactor: 4,
};

const text = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * The watchdog's patience from a page address's `watchdog-ms` (tests shorten it to see a silent
 * worker replaced in seconds instead of 20); anything else keeps the default. Bounded so that a
 * shared link cannot make a working worker look dead (at least 2 s: heartbeats come every second).
 */
export function watchdogOptionsOf(params: URLSearchParams): Partial<WorkerClientOptions> {
  const ms = Number(params.get('watchdog-ms'));
  return Number.isFinite(ms) && ms >= 2000 && ms <= DEFAULT_WORKER_OPTIONS.silenceMs ? { silenceMs: ms } : {};
}

export class WorkerClient<Req extends { type: string; id: number }, Ev> {
  private worker: WorkerPort<Req, Ev>;
  private replay: Req | null = null;
  private stopped = false;
  private losses: number[] = [];
  /** ids of requests whose answers are owed */
  private readonly owed = new Set<number>();
  private watchdog: ReturnType<typeof setTimeout> | null = null;
  private lastHeard = 0;
  private longestSilence = 0;
  private quietMs = 0;
  private readonly options: WorkerClientOptions;

  constructor(
    private readonly protocol: WorkerProtocol<Req, Ev>,
    private readonly lifecycle: WorkerLifecycle<Ev>,
    private readonly spawn: () => WorkerPort<Req, Ev>,
    options: Partial<WorkerClientOptions> = {},
  ) {
    this.options = { ...DEFAULT_WORKER_OPTIONS, ...options };
    this.worker = this.start();
  }

  /** Whether a worker runs (false once it was given up on or disposed). */
  get running(): boolean {
    return !this.stopped;
  }

  send(request: Req): void {
    if (this.stopped) {
      // Answer anyway, so no caller waits for a worker that is gone.
      this.lifecycle.onEvent(this.protocol.refusal(request, `The ${this.protocol.name} is stopped; reload the page.`));
      return;
    }
    if (this.protocol.isReplayed(request)) this.replay = request;
    this.post(request);
  }

  /** Replace the worker (after a loss, or on purpose). */
  restart(reason: string): void {
    if (this.stopped) return;
    this.retire();
    // A worker that cannot even start would fail in a loop; stop after a few tries and say so.
    const now = Date.now();
    this.losses = [...this.losses.filter((t) => now - t < this.options.crashWindowMs), now];
    if (this.losses.length > this.options.maxRestarts) {
      this.stopped = true;
      this.lifecycle.onLost(reason, false, false);
      return;
    }
    this.worker = this.start();
    const replay = this.replay;
    if (replay) this.post(replay);
    this.lifecycle.onLost(reason, true, replay !== null);
    this.lifecycle.onRestarted?.();
  }

  dispose(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.retire();
  }

  private post(request: Req): void {
    const answered = this.protocol.isAnswered(request);
    if (answered) {
      if (this.owed.size === 0) this.lastHeard = Date.now();
      this.owed.add(request.id);
      this.arm();
    }
    try {
      this.worker.postMessage(request, this.protocol.transfer(request));
    } catch (err) {
      // A request that cannot be sent (a buffer that cannot be cloned) is answered here.
      this.owed.delete(request.id);
      this.lifecycle.onEvent(this.protocol.refusal(request, `The request could not be sent: ${text(err)}`));
    }
  }

  private start(): WorkerPort<Req, Ev> {
    const worker = this.spawn();
    worker.onmessage = (ev) => this.heard(ev.data);
    // An uncaught error inside the worker may leave it in any state; a fresh one is the safe answer.
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.restart(`The ${this.protocol.name} crashed${ev.message ? ` (${ev.message})` : ''}.`);
    };
    worker.onmessageerror = () => this.restart(`The ${this.protocol.name} sent a message that could not be read.`);
    return worker;
  }

  private retire(): void {
    this.disarm();
    this.owed.clear();
    this.worker.onmessage = this.worker.onerror = this.worker.onmessageerror = null;
    this.worker.terminate();
  }

  private heard(data: Ev): void {
    const now = Date.now();
    // A silence the worker announced (building a session) says nothing about its usual pace.
    if (this.owed.size > 0 && this.quietMs === 0)
      this.longestSilence = Math.max(this.longestSilence, now - this.lastHeard);
    this.lastHeard = now;
    if (isHeartbeat(data)) {
      this.arm();
      return;
    }
    this.quietMs = this.protocol.quietAfter?.(data) ?? 0;
    const answered = this.protocol.answers(data);
    if (answered !== null) this.owed.delete(answered);
    this.arm();
    this.lifecycle.onEvent(data);
  }

  /** How long the worker may stay silent from now on before it is declared lost. */
  private patience(): number {
    const { silenceMs, silenceFactor } = this.options;
    return Math.max(silenceMs, silenceFactor * this.longestSilence, this.quietMs);
  }

  private arm(): void {
    this.disarm();
    if (this.owed.size === 0 || this.stopped) return;
    const patience = this.patience();
    this.watchdog = setTimeout(() => {
      this.watchdog = null;
      const silent = Math.round((Date.now() - this.lastHeard) / 1000);
      this.restart(`The ${this.protocol.name} stopped responding (no sign of life for ${silent} s).`);
    }, patience);
  }

  private disarm(): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
  }
}
