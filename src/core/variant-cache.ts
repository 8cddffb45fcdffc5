/**
 * Generation variants that have run once need not run again. A variant's rows (its step
 * previews, noise gaps, attention and final image) depend only on the model, the prompt, seed,
 * steps, guidance and its own masks, not on what else shares the UNet batch: onnxruntime computes
 * every batch row alone, and the tests check this bit for bit on the organism (native and WASM).
 * So a head click runs the pruned variant alone (2 rows instead of 4) and takes the unpruned one
 * from here, and toggling a head back, or "Reset all", is answered without a UNet call.
 *
 * generateCached() is a drop-in for generate(): the same step events and result, in the same
 * order, whichever variants came from the cache.
 */
import { type Manifest, organism } from './manifest';
import type { MaskSet } from './masks';
import { type GenerateRequest, type GenerateResult, type ModelRunner, type StepEvent, generate } from './pipeline';
import { ddimTimesteps } from './schedule';
import { tokenize } from './tokenizer';

/** One variant's run, as the pipeline reported it. The cache hands out copies, never these arrays. */
export interface VariantRecord {
  timesteps: number[];
  /** per step: predicted clean image, CHW */
  previews: Float32Array[];
  /** per step: the noise gap */
  noiseGaps: number[];
  /** per step, per layer: the conditional row's attention; null when the run did not capture it */
  attention: Float32Array[][] | null;
  /** final image, CHW */
  image: Float32Array;
}

function recordBytes(r: VariantRecord): number {
  let floats = r.image.length;
  for (const p of r.previews) floats += p.length;
  for (const step of r.attention ?? []) for (const layer of step) floats += layer.length;
  return 4 * floats + 16 * r.noiseGaps.length;
}

/**
 * Variant runs by key (variantKey), least recently used first out once `maxBytes` is passed. A
 * run with attention is about 7 MB on the organism at 25 steps, one without about 0.3 MB.
 */
export class VariantCache {
  private readonly entries = new Map<string, { record: VariantRecord; bytes: number }>();
  private total = 0;

  constructor(readonly maxBytes = 96 * 1024 * 1024) {}

  /** The record for `key`, if it is held and has attention when `needAttention`. */
  get(key: string, needAttention: boolean): VariantRecord | undefined {
    const entry = this.entries.get(key);
    if (!entry || (needAttention && !entry.record.attention)) return undefined;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.record;
  }

  put(key: string, record: VariantRecord): void {
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.total -= old.bytes;
    }
    const bytes = recordBytes(record);
    if (bytes > this.maxBytes) return;
    this.entries.set(key, { record, bytes });
    this.total += bytes;
    for (const [k, e] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(k);
      this.total -= e.bytes;
    }
  }

  clear(): void {
    this.entries.clear();
    this.total = 0;
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }
}

/** Everything a variant's rows depend on: the model, the run's settings and the variant's masks. */
export function variantKey(
  manifest: Manifest,
  request: Pick<GenerateRequest, 'prompt' | 'seed' | 'steps' | 'guidance'>,
  masks: MaskSet,
): string {
  const scaled = Object.keys(masks)
    .sort()
    .map((name) => {
      const units: string[] = [];
      masks[name].forEach((v, j) => {
        if (v !== 1) units.push(`${j}:${v}`);
      });
      return `${name}=${units.join(',')}`;
    });
  return JSON.stringify([
    manifest.id,
    manifest.version,
    request.prompt,
    request.seed,
    request.steps,
    request.guidance,
    scaled,
  ]);
}

function throwIfAborted(signal: AbortSignal | undefined, where: string): void {
  if (signal?.aborted) throw new DOMException(`generation aborted ${where}`, 'AbortError');
}

function emptyRecord(capture: boolean): VariantRecord {
  return { timesteps: [], previews: [], noiseGaps: [], attention: capture ? [] : null, image: new Float32Array(0) };
}

/**
 * generate() with the variants already in `cache` taken from it: only the others run, in one
 * batch (none at all when every variant is held), and the events and result are put together in
 * the request's variant order. Variants that ran are added to the cache once their run completes.
 */
export async function* generateCached(
  runner: ModelRunner,
  manifest: Manifest,
  request: GenerateRequest,
  cache: VariantCache,
  signal?: AbortSignal,
): AsyncGenerator<StepEvent, GenerateResult, void> {
  const start = performance.now();
  const keys = request.variants.map((v) => variantKey(manifest, request, v));
  const held = keys.map((k) => cache.get(k, request.captureAttention));
  // Variants to run: the first of each key not held (a repeated variant runs once).
  const runOf = new Map<string, number>();
  const runKeys: string[] = [];
  keys.forEach((k, v) => {
    if (!held[v] && !runOf.has(k)) {
      runOf.set(k, runKeys.length);
      runKeys.push(k);
    }
  });
  const toRun = runKeys.map((k) => request.variants[keys.indexOf(k)]);
  const capture = request.captureAttention;
  const recorded = toRun.map(() => emptyRecord(capture));
  /** the run's row of variant v, or -1 when it comes from the cache */
  const row = keys.map((k, v) => (held[v] ? -1 : runOf.get(k)!));

  const run = toRun.length > 0 ? generate(runner, manifest, { ...request, variants: toRun }, signal) : null;
  const { schedule, text } = organism(manifest);
  const replayed = run ? 0 : ddimTimesteps(request.steps, schedule.trainSteps).length;
  const stepMs: number[] = [];
  const attention: Float32Array[][][] = [];
  let result: GenerateResult | null = null;
  for (let i = 0; ; i++) {
    const stepStart = performance.now();
    let fresh: StepEvent | null = null;
    if (run) {
      const next = await run.next();
      if (next.done) {
        result = next.value;
        break;
      }
      fresh = next.value;
      const f = fresh;
      recorded.forEach((r, j) => {
        r.timesteps.push(f.timestep);
        r.previews.push(f.previews[j].slice());
        r.noiseGaps.push(f.noiseGap[j]);
        // The event's arrays are handed on (and transferred by the worker): keep copies.
        r.attention?.push(f.attention!.map((layer) => layer[j].slice()));
      });
    } else {
      throwIfAborted(signal, `before step ${i + 1} of ${replayed}`);
      if (i >= replayed) break;
    }
    const f = fresh;
    const event: StepEvent = {
      step: i + 1,
      of: f?.of ?? replayed,
      timestep: f?.timestep ?? held[0]!.timesteps[i],
      previews: row.map((r, v) => (r < 0 ? held[v]!.previews[i].slice() : f!.previews[r])),
      noiseGap: row.map((r, v) => (r < 0 ? held[v]!.noiseGaps[i] : f!.noiseGap[r])),
    };
    if (capture) {
      const layers = (f?.attention ?? held[0]!.attention![i]).length;
      event.attention = Array.from({ length: layers }, (_, l) =>
        row.map((r, v) => (r < 0 ? held[v]!.attention![i][l].slice() : f!.attention![l][r])),
      );
      attention.push(event.attention);
    }
    if (!run) stepMs.push(performance.now() - stepStart);
    yield event;
  }
  throwIfAborted(signal, 'after the last step');

  const done = result;
  if (done) {
    recorded.forEach((r, j) => {
      r.image = done.images[j].slice();
      cache.put(runKeys[j], r);
    });
  }
  const steps = done ? done.noiseGaps.length : replayed;
  const images = row.map((r, v) => (r < 0 ? held[v]!.image.slice() : done!.images[r]));
  const noiseGaps = Array.from({ length: steps }, (_, i) =>
    row.map((r, v) => (r < 0 ? held[v]!.noiseGaps[i] : done!.noiseGaps[i][r])),
  );
  return {
    images,
    noiseGaps,
    // the step events' arrays, as generate() returns them
    ...(capture ? { attention } : {}),
    tokens: done?.tokens ?? tokenize(request.prompt, text),
    timings: done?.timings ?? { textMs: 0, stepMs, totalMs: performance.now() - start },
  };
}
