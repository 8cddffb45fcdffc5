import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { InferenceClient, type WorkerLike } from './client';
import type { WorkerEvent, WorkerRequest } from './protocol';
import { watchdogOptionsOf } from './worker-client';

/** A worker that only records: it never answers unless the test makes it. */
class SilentWorker implements WorkerLike {
  sent: WorkerRequest[] = [];
  terminated = false;
  onmessage: ((ev: MessageEvent<WorkerEvent>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  onmessageerror: ((ev: MessageEvent) => void) | null = null;
  postMessage(message: WorkerRequest) {
    if (!this.terminated) this.sent.push(message);
  }
  terminate() {
    this.terminated = true;
  }
  say(data: WorkerEvent | { type: 'heartbeat' }) {
    this.onmessage?.({ data } as MessageEvent<WorkerEvent>);
  }
}

function setup(options = {}) {
  const workers: SilentWorker[] = [];
  const events: WorkerEvent[] = [];
  const crashes: { message: string; reloading: boolean }[] = [];
  let restarted = 0;
  const client = new InferenceClient(
    {
      onEvent: (e) => events.push(e),
      onCrash: (message, reloading) => crashes.push({ message, reloading }),
      onRestarted: () => restarted++,
    },
    () => {
      const w = new SilentWorker();
      workers.push(w);
      return w;
    },
    options,
  );
  return { client, workers, events, crashes, restarts: () => restarted, worker: () => workers[workers.length - 1] };
}

const load: WorkerRequest = { type: 'load', id: 1, modelUrl: 'http://x/models/m/', backend: 'auto' };
const generate: WorkerRequest = {
  type: 'generate',
  id: 2,
  params: { prompt: 'a', seed: 1, steps: 100, guidance: 4, captureAttention: false },
};
const ready = (id: number): WorkerEvent => ({
  type: 'error',
  id,
  request: 'generate',
  kind: 'cancelled',
  message: 'done',
});

describe('watchdog', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  test('a worker that goes silent during a run (closed or hung inside) is replaced and the load replayed', () => {
    const { client, workers, crashes, restarts } = setup();
    client.send(load);
    workers[0].say({ type: 'heartbeat' });
    client.send(generate);
    vi.advanceTimersByTime(19_000);
    expect(workers).toHaveLength(1);
    vi.advanceTimersByTime(2_000);
    expect(workers[0].terminated).toBe(true);
    expect(workers).toHaveLength(2);
    expect(workers[1].sent).toEqual([load]);
    expect(crashes).toHaveLength(1);
    expect(crashes[0].reloading).toBe(true);
    expect(crashes[0].message).toMatch(/stopped responding/);
    expect(restarts()).toBe(1);
  });

  test('heartbeats keep a slow run alive, however long it takes', () => {
    const { client, workers, crashes } = setup();
    client.send(generate);
    for (let s = 0; s < 300; s++) {
      vi.advanceTimersByTime(1_000);
      workers[0].say({ type: 'heartbeat' });
    }
    expect(crashes).toEqual([]);
    expect(workers).toHaveLength(1);
  });

  test('heartbeats never reach the caller', () => {
    const { workers, events } = setup();
    workers[0].say({ type: 'heartbeat' });
    expect(events).toEqual([]);
  });

  test('an idle worker is not watched, and an answered request ends the watch', () => {
    const { client, workers, crashes } = setup();
    vi.advanceTimersByTime(120_000);
    client.send(generate);
    workers[0].say(ready(2));
    vi.advanceTimersByTime(120_000);
    client.send({ type: 'cancel', id: 2 });
    vi.advanceTimersByTime(120_000);
    expect(crashes).toEqual([]);
  });

  test('patience grows with the longest silence a working worker has shown', () => {
    const { client, workers, crashes } = setup();
    client.send(generate);
    // one model call that blocked the worker for 15 s (a big model on the CPU), then steps resume
    vi.advanceTimersByTime(15_000);
    workers[0].say({ type: 'heartbeat' });
    // 4 x 15 s of patience from now on: a second such call of 40 s is tolerated
    vi.advanceTimersByTime(40_000);
    workers[0].say({ type: 'heartbeat' });
    expect(crashes).toEqual([]);
    vi.advanceTimersByTime(4 * 40_000 + 1);
    expect(crashes).toHaveLength(1);
  });

  test('building a session may block the worker for minutes', () => {
    const { client, workers, crashes } = setup();
    client.send(load);
    workers[0].say({ type: 'progress', id: 1, phase: 'session', label: 's', loaded: 0, total: 1, fromCache: false });
    vi.advanceTimersByTime(150_000);
    expect(crashes).toEqual([]);
    workers[0].say({ type: 'progress', id: 1, phase: 'download', label: 'd', loaded: 0, total: 1, fromCache: false });
    vi.advanceTimersByTime(21_000);
    expect(crashes).toHaveLength(1);
  });
});

describe('restart rule', () => {
  test('losses spread out in time are each recovered; a burst within the window gives up', () => {
    vi.useFakeTimers();
    try {
      const { worker, crashes } = setup();
      const crash = () => worker().onerror?.({ message: 'boom', preventDefault() {} } as ErrorEvent);
      for (let i = 0; i < 6; i++) {
        crash();
        vi.advanceTimersByTime(61_000);
      }
      expect(crashes.every((c) => !/reload the page/.test(c.message))).toBe(true);
      for (let i = 0; i < 4; i++) crash();
      expect(crashes.at(-1)?.message).toMatch(/reload the page/);
    } finally {
      vi.useRealTimers();
    }
  });

  test('a request that cannot be sent is answered with an error, not dropped', () => {
    const { client, worker, events } = setup();
    worker().postMessage = () => {
      throw new DOMException('could not be cloned', 'DataCloneError');
    };
    client.send(generate);
    expect(events).toEqual([expect.objectContaining({ type: 'error', id: 2, request: 'generate' })]);
  });
});

describe('watchdog patience from the page address', () => {
  test('a test may shorten it within bounds; anything else keeps the default', () => {
    const of = (query: string) => watchdogOptionsOf(new URLSearchParams(query));
    expect(of('watchdog-ms=4000')).toEqual({ silenceMs: 4000 });
    // too short to outlast a heartbeat gap, longer than the default, or not a number: ignored
    expect(of('watchdog-ms=500')).toEqual({});
    expect(of('watchdog-ms=600000')).toEqual({});
    expect(of('watchdog-ms=soon')).toEqual({});
    expect(of('')).toEqual({});
  });
});
