import { expect, test } from 'vitest';
import { AnalysisClient, type AnalysisWorkerLike } from './analysis-client';
import type { AnalysisEvent, AnalysisRequest } from './analysis-protocol';

class FakeAnalysisWorker implements AnalysisWorkerLike {
  sent: AnalysisRequest[] = [];
  terminated = false;
  onmessage: ((ev: MessageEvent<AnalysisEvent>) => void) | null = null;
  onerror: ((ev: ErrorEvent) => void) | null = null;
  onmessageerror: ((ev: MessageEvent) => void) | null = null;
  postMessage(message: AnalysisRequest) {
    if (this.terminated) return; // what a real terminated Worker does: nothing, silently
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
  const workers: FakeAnalysisWorker[] = [];
  const events: AnalysisEvent[] = [];
  const crashes: { message: string; restarted: boolean }[] = [];
  const client = new AnalysisClient(
    { onEvent: (e) => events.push(e), onCrash: (message, restarted) => crashes.push({ message, restarted }) },
    () => {
      const w = new FakeAnalysisWorker();
      workers.push(w);
      return w;
    },
  );
  return { client, workers, events, crashes };
}

test('a crashed analysis worker is replaced with its init replayed, and the user is told', () => {
  const { client, workers, crashes } = setup();
  const init = { type: 'init', id: 1, modelUrl: 'http://x/models/m/', manifest: {} } as AnalysisRequest;
  client.send(init);
  workers[0].crash('boom');
  expect(workers[0].terminated).toBe(true);
  expect(workers[1].sent).toEqual([init]);
  expect(crashes).toEqual([{ message: expect.stringMatching(/crashed \(boom\).*restarted/), restarted: true }]);
});

test('after the analysis worker is given up on, a request is answered with an error instead of vanishing', () => {
  const workers: FakeAnalysisWorker[] = [];
  const events: AnalysisEvent[] = [];
  const crashes: string[] = [];
  const client = new AnalysisClient({ onEvent: (e) => events.push(e), onCrash: (m) => crashes.push(m) }, () => {
    const w = new FakeAnalysisWorker();
    workers.push(w);
    return w;
  });
  for (let i = 0; i < 4; i++) workers[workers.length - 1].crash('boom');
  expect(crashes.at(-1)).toMatch(/reload the page/);
  client.send({ type: 'replicate', id: 42, variants: [] });
  expect(events).toEqual([expect.objectContaining({ type: 'error', id: 42, request: 'replicate' })]);
});
