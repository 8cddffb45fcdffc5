/**
 * Wires the direct channel between the inference and the analysis worker (peer.ts): a fresh
 * MessageChannel whose ends go to both workers, again after either one was replaced; when the
 * analysis worker is given up on, the inference worker is told, so it stops waiting on it.
 */
import type { AnalysisRequest } from './analysis-protocol';
import type { WorkerRequest } from './protocol';

interface Endpoint<Req> {
  send(request: Req): void;
  readonly running: boolean;
}

export interface WorkerLink {
  /** a new channel between the two running workers (call at start and after a restart of either) */
  link(): void;
  /** the analysis worker is gone for good */
  unlink(): void;
}

/** `connect` requests are not answered, so they need no id of the store's. */
const CONNECT_ID = 0;

export function workerLink(
  inference: Endpoint<WorkerRequest>,
  analysis: Endpoint<AnalysisRequest>,
  channel: () => { port1: MessagePort; port2: MessagePort } = () => new MessageChannel(),
): WorkerLink {
  return {
    link() {
      if (!inference.running || !analysis.running) return;
      const { port1, port2 } = channel();
      inference.send({ type: 'connect', id: CONNECT_ID, port: port1 });
      analysis.send({ type: 'connect', id: CONNECT_ID, port: port2 });
    },
    unlink() {
      if (inference.running) inference.send({ type: 'connect', id: CONNECT_ID, port: null });
    },
  };
}
