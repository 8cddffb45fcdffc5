import { expect, test } from 'vitest';
import { InferenceClient, type WorkerLike } from './client';
import type { WorkerEvent, WorkerRequest } from './protocol';

class FakeWorker implements WorkerLike {
  sent: WorkerRequest[] = [];
  terminated = false;
  onmessage: ((ev: MessageEvent<WorkerEvent>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  onmessageerror: ((ev: MessageEvent) => void) | null = null;
  postMessage(message: WorkerRequest) {
    this.sent.push(message);
  }
  terminate() {
    this.terminated = true;
  }
  crash(message: string) {
    this.onerror?.({ message, preventDefault() {} } as ErrorEvent);
  }
}

function setup() {
  const workers: FakeWorker[] = [];
  const events: WorkerEvent[] = [];
  const crashes: { message: string; reloading: boolean }[] = [];
  const client = new InferenceClient(
    { onEvent: (e) => events.push(e), onCrash: (message, reloading) => crashes.push({ message, reloading }) },
    () => {
      const w = new FakeWorker();
      workers.push(w);
      return w;
    },
  );
  return { client, workers, events, crashes };
}

const load: WorkerRequest = { type: 'load', id: 1, modelUrl: 'http://x/models/m/', backend: 'auto' };

test('a crashed worker is replaced, the user is told, and the model load is replayed', () => {
  const { client, workers, crashes } = setup();
  client.send(load);
  workers[0].crash('out of memory');
  expect(workers[0].terminated).toBe(true);
  expect(workers).toHaveLength(2);
  expect(workers[1].sent).toEqual([load]);
  expect(crashes).toEqual([{ message: 'The inference worker crashed (out of memory).', reloading: true }]);
});

test('events from the worker reach the caller', () => {
  const { workers, events } = setup();
  const ready = {
    type: 'progress',
    id: 1,
    phase: 'manifest',
    label: 'm',
    loaded: 0,
    total: 1,
    fromCache: false,
  } as const;
  workers[0].onmessage?.({ data: ready } as MessageEvent<WorkerEvent>);
  expect(events).toEqual([ready]);
});

test('a worker that keeps crashing is given up on, and later requests are answered with an error', () => {
  const { client, workers, crashes, events } = setup();
  for (let i = 0; i < 4; i++) workers[workers.length - 1].crash('boom');
  expect(crashes.at(-1)?.reloading).toBe(false);
  expect(crashes.at(-1)?.message).toMatch(/reload the page/);
  client.send({
    type: 'generate',
    id: 9,
    params: { prompt: 'a', seed: 1, steps: 1, guidance: 1, captureAttention: false },
  });
  expect(events.at(-1)).toMatchObject({ type: 'error', id: 9, request: 'generate' });
});
