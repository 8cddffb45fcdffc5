import { afterEach, describe, expect, test } from 'vitest';
import type { Manifest } from '../core/manifest';
import type { TrainIndex } from '../core/metrics/replication';
import { AnalysisPeer, type AttentionTensors, InferencePeer, type PeerPort } from './peer';
import { TrainIndexHolder } from './train-index';

const manifest = { id: 'm' } as Manifest;
const index: TrainIndex = {
  memorized: new Uint8Array([1, 2, 3]),
  thumbnails: new Uint8Array([4, 5, 6]),
  count: 1,
  memorizedCount: 1,
  size: 1,
  thumbSize: 1,
};

const open: MessagePort[] = [];
afterEach(() => {
  for (const port of open.splice(0)) port.close();
});

/** A real channel (Node's MessageChannel: structured clone and transfer as in the browser). */
function channel(): [PeerPort, PeerPort] {
  const { port1, port2 } = new MessageChannel();
  open.push(port1, port2);
  return [port1 as unknown as PeerPort, port2 as unknown as PeerPort];
}

function attention(v: number): AttentionTensors {
  return [[[new Float32Array(4).fill(v), new Float32Array(4).fill(v + 1)]]];
}

function linked(load: (url: string, m: Manifest) => Promise<TrainIndex> = async () => index) {
  const [a, b] = channel();
  const inference = new InferencePeer();
  const analysis = new AnalysisPeer(load);
  inference.connect(a);
  analysis.connect(b);
  return { inference, analysis };
}

describe('attention from worker to worker', () => {
  test('is transferred, not copied: the sender keeps nothing', async () => {
    const { inference, analysis } = linked();
    const sent = attention(3);
    expect(inference.shareAttention(7, sent)).toBe(true);
    expect(sent[0][0][0].length).toBe(0); // detached by the transfer
    const held = await analysis.attention(7);
    expect(Array.from(held[0][0][1])).toEqual([4, 4, 4, 4]);
  });

  test('a heatmap request that arrives before its attention waits for it', async () => {
    const { inference, analysis } = linked();
    const waiting = analysis.attention(9);
    inference.shareAttention(9, attention(1));
    expect(Array.from((await waiting)[0][0][0])).toEqual([1, 1, 1, 1]);
  });

  test('a request for a superseded generation is refused, and one whose attention never comes times out', async () => {
    const { inference, analysis } = linked();
    const older = analysis.attention(4);
    inference.shareAttention(5, attention(1));
    await expect(older).rejects.toThrow(/no longer held/);
    await expect(analysis.attention(3)).rejects.toThrow(/no longer held/);
    await expect(analysis.attention(6, 20)).rejects.toThrow(/did not arrive/);
  });

  test('without a connected analysis worker, nobody takes the attention', () => {
    expect(new InferencePeer().shareAttention(1, attention(0))).toBe(false);
  });
});

describe('the training index, owned by the analysis worker', () => {
  test('is downloaded once however many ask, and lent over the channel', async () => {
    let loads = 0;
    const holder = new TrainIndexHolder(async () => {
      loads++;
      return index;
    });
    const { inference } = linked((url, m) => holder.get(url, m));
    await holder.get('http://x/m/', manifest); // the analysis worker's own init
    const [a, b] = await Promise.all([
      inference.trainIndex('http://x/m/', manifest),
      inference.trainIndex('http://x/m/', manifest),
    ]);
    expect(loads).toBe(1);
    expect(Array.from(a.thumbnails)).toEqual([4, 5, 6]);
    expect(b.count).toBe(1);
  });

  test('a failed load is reported through the channel and retried on the next request', async () => {
    let loads = 0;
    const holder = new TrainIndexHolder(async () => {
      if (++loads === 1) throw new Error('HTTP 503');
      return index;
    });
    const { inference } = linked((url, m) => holder.get(url, m));
    await expect(inference.trainIndex('http://x/m/', manifest)).rejects.toThrow('HTTP 503');
    await expect(inference.trainIndex('http://x/m/', manifest)).resolves.toMatchObject({ count: 1 });
  });

  test('questions in flight fail when the analysis worker is replaced, so the asker can load it itself', async () => {
    const { inference } = linked(() => new Promise(() => undefined));
    const pending = inference.trainIndex('http://x/m/', manifest);
    inference.connect(channel()[0]);
    await expect(pending).rejects.toThrow(/replaced/);
    inference.disconnect('gone');
    await expect(inference.trainIndex('http://x/m/', manifest)).rejects.toThrow(/no analysis worker/);
  });
});
