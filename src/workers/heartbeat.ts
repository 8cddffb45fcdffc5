/**
 * A worker's sign of life: while its event loop runs, a worker posts a heartbeat every
 * HEARTBEAT_MS, so its client can tell a slow run (heartbeats between steps) from a worker that
 * closed itself or hangs (silence). Clients swallow heartbeats; the protocols never see them.
 */

export interface Heartbeat {
  type: 'heartbeat';
}

export const HEARTBEAT_MS = 1000;

export function isHeartbeat(message: unknown): message is Heartbeat {
  return typeof message === 'object' && message !== null && (message as { type?: unknown }).type === 'heartbeat';
}

/** Post a heartbeat now and every `everyMs` until the returned stop function is called. */
export function startHeartbeat(post: (message: Heartbeat) => void, everyMs = HEARTBEAT_MS): () => void {
  const beat = () => post({ type: 'heartbeat' });
  beat();
  const timer = setInterval(beat, everyMs);
  return () => clearInterval(timer);
}
