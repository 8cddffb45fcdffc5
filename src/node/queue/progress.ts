/**
 * Progress of a stage on the queue as the terminal shows it: chunks done of the total, UNet calls
 * per second across all workers (over the last 30 s of finished chunks), and the time left at that
 * rate. Counts come from the stage's parent job (finished children), so a chunk that a killed
 * worker had started and another worker finished counts once.
 */
import type { Progress } from '../../core/science/context';

export interface StageStatus {
  stage: string;
  /** chunks finished, of `total` */
  done: number;
  total: number;
  /** chunks that were already finished when this run reached the stage */
  reused: number;
  /** UNet calls per chunk */
  callsPerChunk: number;
  /** UNet calls per second over the last window; null until two readings apart */
  callsPerSecond: number | null;
  /** seconds left at that rate */
  etaSeconds: number | null;
  /** workers connected to the chunk queue (null: not asked yet) */
  workers: number | null;
}

/** UNet calls per second from (time, calls finished) readings over a sliding window. */
export class RateMeter {
  private readings: { t: number; calls: number }[] = [];
  private baseline: number | null = null;
  constructor(private readonly windowMs = 30_000) {}

  add(t: number, calls: number): void {
    this.baseline ??= calls;
    this.readings.push({ t, calls });
    while (this.readings.length > 2 && this.readings[1].t <= t - this.windowMs) this.readings.shift();
  }

  /** calls per second across the window; null until a chunk has finished since the first reading */
  rate(): number | null {
    const a = this.readings[0];
    const b = this.readings[this.readings.length - 1];
    if (!a || b.calls === this.baseline || b.t <= a.t) return null;
    return ((b.calls - a.calls) * 1000) / (b.t - a.t);
  }
}

function clock(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

/** "detect: chunks 3/10 (2 reused) · 41.2 UNet calls/s · 2 workers · ETA 35 s" */
export function statusLine(s: StageStatus): string {
  const parts = [`${s.stage}: chunks ${s.done}/${s.total}${s.reused ? ` (${s.reused} reused)` : ''}`];
  parts.push(s.callsPerSecond === null ? 'measuring speed' : `${s.callsPerSecond.toFixed(1)} UNet calls/s`);
  if (s.workers !== null) parts.push(`${s.workers} worker${s.workers === 1 ? '' : 's'}`);
  if (s.done >= s.total) parts.push('done');
  else if (s.workers === 0) parts.push('waiting for workers (start some with npm run worker)');
  else if (s.etaSeconds !== null && Number.isFinite(s.etaSeconds)) parts.push(`ETA ${clock(s.etaSeconds)}`);
  return parts.join(' · ');
}

/**
 * Prints local progress (the study's own stages) and queue stages to one stream: on a terminal one
 * line redrawn in place, otherwise a line per stage and every `everyMs` while a queue stage runs.
 */
export function queueProgressPrinter(
  stream: NodeJS.WriteStream,
  local: (p: Progress) => void,
  everyMs = 10_000,
): { onProgress: (p: Progress) => void; onStatus: (s: StageStatus) => void } {
  let last: StageStatus | null = null;
  let lastPrint = 0;
  return {
    onProgress: local,
    onStatus(s) {
      const finished = s.done >= s.total;
      const sameStage = last !== null && last.stage === s.stage && last.total === s.total;
      if (finished && sameStage && last!.done >= last!.total) return; // said already
      const line = statusLine(s);
      const now = Date.now();
      if (stream.isTTY) stream.write(`\r${line.padEnd(100)}${finished ? '\n' : ''}`);
      else if (!sameStage || finished || now - lastPrint >= everyMs) {
        stream.write(`${line}\n`);
        lastPrint = now;
      }
      last = s;
    },
  };
}
