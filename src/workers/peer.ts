/**
 * The direct channel between the two workers (a MessageChannel the UI thread creates and hands
 * out, see link-workers.ts), so big data never passes through the UI thread:
 *  - the inference worker sends each generation's attention to the analysis worker, which keeps
 *    it for the heatmaps (it grows with steps, layers and pixels, and would otherwise be copied
 *    through the UI thread on its way);
 *  - the analysis worker owns the training index (downloaded and decoded once per model) and lends
 *    a copy to the inference worker when a science job needs it.
 * One end each: InferencePeer lives in the inference worker, AnalysisPeer in the analysis worker.
 */
import type { Manifest } from '../core/manifest';
import type { TrainIndex } from '../core/metrics/replication';

/** [step][layer][variant] -> conditional attention probabilities [heads, pixels, T] */
export type AttentionTensors = Float32Array[][][];

/** inference worker -> analysis worker */
export type ToAnalysis =
  | { type: 'attention'; generation: number; attention: AttentionTensors }
  | { type: 'train-index'; id: number; modelUrl: string; manifest: Manifest };

/** analysis worker -> inference worker */
export type ToInference =
  | { type: 'train-index'; id: number; index: TrainIndex }
  | { type: 'error'; id: number; message: string };

/** The smallest port both ends need (MessagePort; tests may pass Node's). */
export interface PeerPort {
  postMessage(message: unknown, transfer?: Transferable[]): void;
  onmessage: ((ev: MessageEvent) => void) | null;
  close(): void;
}

function attentionBuffers(attention: AttentionTensors): Transferable[] {
  const buffers = new Set<ArrayBuffer>();
  for (const step of attention) for (const layer of step) for (const a of layer) buffers.add(a.buffer as ArrayBuffer);
  return [...buffers];
}

/** The inference worker's end. */
export class InferencePeer {
  private port: PeerPort | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(index: TrainIndex): void; reject(err: Error): void }>();

  get connected(): boolean {
    return this.port !== null;
  }

  /** Use this port from now on (the old one, if any, is closed and its questions fail). */
  connect(port: PeerPort): void {
    this.disconnect('the analysis worker was replaced');
    this.port = port;
    port.onmessage = (ev: MessageEvent<ToInference>) => {
      const reply = ev.data;
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if (reply.type === 'train-index') waiter.resolve(reply.index);
      else waiter.reject(new Error(reply.message));
    };
  }

  disconnect(reason: string): void {
    this.port?.close();
    this.port = null;
    for (const waiter of this.waiting.values()) waiter.reject(new Error(reason));
    this.waiting.clear();
  }

  /**
   * Hands a generation's attention to the analysis worker (transferred: the arrays are unusable
   * here afterwards). False when no analysis worker is connected: then nobody holds it.
   */
  shareAttention(generation: number, attention: AttentionTensors): boolean {
    if (!this.port) return false;
    const message: ToAnalysis = { type: 'attention', generation, attention };
    this.port.postMessage(message, attentionBuffers(attention));
    return true;
  }

  /** The analysis worker's training index for this model (it loads it if it has not yet). */
  trainIndex(modelUrl: string, manifest: Manifest): Promise<TrainIndex> {
    const port = this.port;
    if (!port) return Promise.reject(new Error('no analysis worker is connected'));
    const id = this.nextId++;
    return new Promise<TrainIndex>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      const message: ToAnalysis = { type: 'train-index', id, modelUrl, manifest };
      port.postMessage(message);
    });
  }
}

/** How long a heatmap request waits for its generation's attention to arrive over the channel. */
export const ATTENTION_WAIT_MS = 10_000;

/** The analysis worker's end: holds the latest attention and answers training-index questions. */
export class AnalysisPeer {
  private port: PeerPort | null = null;
  private latest: { generation: number; attention: AttentionTensors } | null = null;
  private readonly waiters: {
    generation: number;
    resolve(a: AttentionTensors): void;
    reject(err: Error): void;
    timer: ReturnType<typeof setTimeout>;
  }[] = [];

  constructor(private readonly trainIndexOf: (modelUrl: string, manifest: Manifest) => Promise<TrainIndex>) {}

  connect(port: PeerPort): void {
    this.port?.close();
    this.port = port;
    port.onmessage = (ev: MessageEvent<ToAnalysis>) => {
      const message = ev.data;
      if (message.type === 'attention') this.hold(message.generation, message.attention);
      else void this.answerTrainIndex(port, message);
    };
  }

  /**
   * The attention of a generation. The UI thread asks for maps as soon as the generation's result
   * reaches it, which may be before the attention arrives here over the other channel: then wait.
   */
  attention(generation: number, waitMs = ATTENTION_WAIT_MS): Promise<AttentionTensors> {
    const held = this.latest;
    if (held && held.generation === generation) return Promise.resolve(held.attention);
    if (held && held.generation > generation) return Promise.reject(new Error('that generation is no longer held'));
    return new Promise((resolve, reject) => {
      const waiter = {
        generation,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new Error('the attention of that generation did not arrive'));
        }, waitMs),
      };
      this.waiters.push(waiter);
    });
  }

  private hold(generation: number, attention: AttentionTensors): void {
    this.latest = { generation, attention };
    for (const w of [...this.waiters]) {
      if (w.generation > generation) continue; // a newer generation is still on its way
      clearTimeout(w.timer);
      this.waiters.splice(this.waiters.indexOf(w), 1);
      if (w.generation === generation) w.resolve(attention);
      else w.reject(new Error('that generation is no longer held'));
    }
  }

  private async answerTrainIndex(port: PeerPort, q: Extract<ToAnalysis, { type: 'train-index' }>): Promise<void> {
    let reply: ToInference;
    try {
      // A copy goes over (structured clone): the analysis worker keeps its own for scoring.
      reply = { type: 'train-index', id: q.id, index: await this.trainIndexOf(q.modelUrl, q.manifest) };
    } catch (err) {
      reply = { type: 'error', id: q.id, message: err instanceof Error ? err.message : String(err) };
    }
    port.postMessage(reply);
  }
}
