import { expect, test } from 'vitest';
import type { AnalysisRequest } from './analysis-protocol';
import { workerLink } from './link';
import type { WorkerRequest } from './protocol';

function endpoint<Req>() {
  return {
    sent: [] as Req[],
    running: true,
    send(r: Req) {
      this.sent.push(r);
    },
  };
}

test('both workers get one end of a fresh channel, each time they are linked', () => {
  const inference = endpoint<WorkerRequest>();
  const analysis = endpoint<AnalysisRequest>();
  const link = workerLink(inference, analysis);
  link.link();
  link.link(); // after a restart of either
  const ports = (sent: { type: string; port?: MessagePort | null }[]) => sent.map((r) => r.port);
  expect(inference.sent.map((r) => r.type)).toEqual(['connect', 'connect']);
  expect(analysis.sent.map((r) => r.type)).toEqual(['connect', 'connect']);
  const [i1, i2] = ports(inference.sent);
  const [a1, a2] = ports(analysis.sent);
  expect(i1).toBeInstanceOf(MessagePort);
  expect(new Set([i1, i2, a1, a2]).size).toBe(4);
  for (const p of [i1, i2, a1, a2]) p?.close();
});

test('no channel to a worker that was given up on; the inference worker is told it is alone', () => {
  const inference = endpoint<WorkerRequest>();
  const analysis = endpoint<AnalysisRequest>();
  const link = workerLink(inference, analysis);
  analysis.running = false;
  link.link();
  expect(inference.sent).toEqual([]);
  link.unlink();
  expect(inference.sent).toEqual([{ type: 'connect', id: 0, port: null }]);
});
