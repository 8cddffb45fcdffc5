/**
 * `npm run bench:queue`: the evaluation's sampling on BullMQ workers (real redis-server, workers as
 * `npm run worker` child processes) on this machine, ratios from one run:
 *
 *   throughput  one stage of 8 chunks (UNet batch 32, 3 steps each) with 1 worker x 1 thread,
 *               2 workers x 1 thread and 1 worker x 2 threads, against the same stage run in this
 *               process (UNet calls per second)
 *   overhead    12 small chunks (batch 8, 1 step) as one stage on 1 warm worker, against the same
 *               chunks run directly here (runChunk, the worker's own code) on a warm session; the
 *               difference per chunk is what the queue costs (Redis, scheduling, the sandbox
 *               thread, the producer's 250 ms poll spread over the stage). Repeated 3 times,
 *               alternating, medians.
 *
 * Writes bench/results/queue.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { allOnes } from '../src/core/masks';
import { type PromptEmbeddings, type SampleRequest, encodePrompts, sampleRows } from '../src/core/science/batch';
import { type BlockEncoder, planStage, runChunk } from '../src/node/queue/chunks';
import { type CliProcess, type LocalRedis, startLocalRedis, startWorkerProcess } from '../src/node/queue/local';
import { modelRefOf } from '../src/node/queue/models';
import { QueueSampler } from '../src/node/queue/sampler';
import type { ModelRef } from '../src/node/queue/schema';
import { type NodeModel, loadNodeModel } from '../src/node/runner';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIR = join(ROOT, 'public/models/memlab-organism');
const PROMPTS = [
  'a painting of zephyr',
  'a large red circle at the top on a gray background',
  'a harbor poster number one',
  'a small blue square at the left on a navy background',
];
const THROUGHPUT = { chunks: 8, rows: 16, steps: 3 };
const OVERHEAD = { chunks: 12, rows: 4, steps: 1, repeats: 3 };

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

/** A sampling request of `chunks` UNet batches; `seedBase` keeps every measured stage new to Redis. */
function request(model: NodeModel, emb: PromptEmbeddings, shape: typeof THROUGHPUT, seedBase: number): SampleRequest {
  const rows = Array.from({ length: shape.chunks * shape.rows }, (_, i) => ({
    prompt: i % PROMPTS.length,
    seed: seedBase + i,
    maskSet: 0,
  }));
  return {
    manifest: model.manifest,
    embeddings: emb,
    maskSets: [allOnes(model.manifest)],
    rows,
    options: { steps: shape.steps, guidance: 4, keepImages: true, maxRows: shape.rows },
  };
}

function encoderOf(model: NodeModel): BlockEncoder {
  const kept = new Map<string, PromptEmbeddings>();
  return {
    async encode(block) {
      const key = JSON.stringify(block);
      if (!kept.has(key)) kept.set(key, await encodePrompts(model.runner, model.manifest, block, {}, block.length));
      return kept.get(key)!;
    },
  };
}

interface Bench {
  redis: LocalRedis;
  sampler: QueueSampler;
  model: NodeModel;
  ref: ModelRef;
  emb: PromptEmbeddings;
  seed: number;
}

/** Seeds no stage measured before has used (a stage already in Redis would be reused, not run). */
function nextSeeds(b: Bench): number {
  b.seed += 100_000;
  return b.seed;
}

/** Seconds the stage takes on the workers. */
async function onQueue(b: Bench, shape: typeof THROUGHPUT): Promise<number> {
  const plan = planStage(request(b.model, b.emb, shape, nextSeeds(b)), b.ref, 'cpu');
  const t0 = performance.now();
  await b.sampler.runStage(plan);
  return (performance.now() - t0) / 1000;
}

/** Loads the model in every worker's processor thread (outside the timings). */
async function warm(b: Bench): Promise<void> {
  await onQueue(b, { chunks: 6, rows: 1, steps: 1 });
}

async function workers(b: Bench, count: number, threads: number): Promise<CliProcess[]> {
  const list = await Promise.all(
    Array.from({ length: count }, () => startWorkerProcess(b.redis.url, ['--threads', String(threads)])),
  );
  await warm(b);
  return list;
}

async function throughputOf(b: Bench, count: number, threads: number) {
  const list = await workers(b, count, threads);
  try {
    const seconds = await onQueue(b, THROUGHPUT);
    const calls = THROUGHPUT.chunks * THROUGHPUT.steps;
    return { workers: count, threads, seconds: +seconds.toFixed(2), callsPerSecond: +(calls / seconds).toFixed(3) };
  } finally {
    await Promise.all(list.map((w) => w.kill('SIGTERM')));
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const redis = await startLocalRedis();
  const model = await loadNodeModel(DIR, { threads: 2 });
  const ref = await modelRefOf(DIR, 'int8');
  const emb = await encodePrompts(model.runner, model.manifest, PROMPTS);
  const sampler = await QueueSampler.open({ url: redis.url, models: [ref], ep: 'cpu', log: () => {} });
  const b: Bench = { redis, sampler, model, ref, emb, seed: 0 };
  const load: number[] = [];
  try {
    // Overhead: one warm worker with the same threads as this process.
    const [one] = await workers(b, 1, 2);
    const direct: number[] = [];
    const queued: number[] = [];
    const encoder = encoderOf(model);
    try {
      for (let r = 0; r < OVERHEAD.repeats; r++) {
        load.push(loadavg()[0]);
        const plan = planStage(request(model, emb, OVERHEAD, nextSeeds(b)), ref, 'cpu');
        const t0 = performance.now();
        for (const c of plan.chunks) await runChunk(model.runner, model.manifest, c.spec, encoder, 'direct');
        direct.push((performance.now() - t0) / 1000 / OVERHEAD.chunks);
        queued.push((await onQueue(b, OVERHEAD)) / OVERHEAD.chunks);
      }
    } finally {
      await one.kill('SIGTERM');
    }
    const directMs = median(direct) * 1000;
    const queuedMs = median(queued) * 1000;

    // Throughput of the same stage: here, then on 1 and 2 workers.
    load.push(loadavg()[0]);
    const t0 = performance.now();
    await sampleRows(
      model.runner,
      model.manifest,
      emb,
      [allOnes(model.manifest)],
      request(model, emb, THROUGHPUT, 1).rows,
      {
        steps: THROUGHPUT.steps,
        guidance: 4,
        keepImages: true,
        maxRows: THROUGHPUT.rows,
      },
    );
    const hereSeconds = (performance.now() - t0) / 1000;
    const calls = THROUGHPUT.chunks * THROUGHPUT.steps;
    const here = {
      workers: 0,
      threads: 2,
      seconds: +hereSeconds.toFixed(2),
      callsPerSecond: +(calls / hereSeconds).toFixed(3),
    };
    const runs = [];
    for (const [count, threads] of [
      [1, 1],
      [2, 1],
      [1, 2],
    ]) {
      load.push(loadavg()[0]);
      runs.push(await throughputOf(b, count, threads));
    }
    const [w1, w2, w1t2] = runs;
    const report = {
      date: new Date().toISOString(),
      model: 'public/models/memlab-organism (int8)',
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, loadAverage1m: load },
      throughput: {
        stage: `${THROUGHPUT.chunks} chunks x UNet batch ${2 * THROUGHPUT.rows} x ${THROUGHPUT.steps} steps = ${calls} UNet calls`,
        inProcess: here,
        workers: runs,
        twoWorkersOverOne: +(w2.callsPerSecond / w1.callsPerSecond).toFixed(3),
        twoWorkersOverOneWithTwoThreads: +(w2.callsPerSecond / w1t2.callsPerSecond).toFixed(3),
        oneWorkerTwoThreadsOverInProcess: +(w1t2.callsPerSecond / here.callsPerSecond).toFixed(3),
      },
      overhead: {
        chunk: `UNet batch ${2 * OVERHEAD.rows}, ${OVERHEAD.steps} step, ${OVERHEAD.chunks} chunks per stage, 1 worker x 2 threads`,
        directMsPerChunk: +directMs.toFixed(1),
        queuedMsPerChunk: +queuedMs.toFixed(1),
        overheadMsPerChunk: +(queuedMs - directMs).toFixed(1),
        ratio: +(queuedMs / directMs).toFixed(3),
        repeats: OVERHEAD.repeats,
      },
      totalSeconds: +((performance.now() - started) / 1000).toFixed(1),
    };
    console.log(
      `memlab-organism int8 on ${report.machine.cores} cores, load ${load.map((l) => l.toFixed(1)).join(' / ')}`,
    );
    console.log(`throughput (${report.throughput.stage}), UNet calls/s:`);
    console.log(`  in this process, 2 threads   ${here.callsPerSecond.toFixed(2)}`);
    for (const r of runs)
      console.log(
        `  ${r.workers} worker${r.workers > 1 ? 's' : ' '} x ${r.threads} thread${r.threads > 1 ? 's' : ' '}        ${r.callsPerSecond.toFixed(2)}`,
      );
    console.log(
      `  2 workers / 1 worker (1 thread each): ${report.throughput.twoWorkersOverOne}x; 2 workers x 1 / 1 worker x 2: ${report.throughput.twoWorkersOverOneWithTwoThreads}x; 1 worker x 2 / in process: ${report.throughput.oneWorkerTwoThreadsOverInProcess}x`,
    );
    console.log(
      `overhead per chunk (${report.overhead.chunk}): direct ${report.overhead.directMsPerChunk} ms, queued ${report.overhead.queuedMsPerChunk} ms, +${report.overhead.overheadMsPerChunk} ms (${report.overhead.ratio}x)`,
    );
    const out = join(ROOT, 'bench/results/queue.json');
    await mkdir(dirname(out), { recursive: true });
    await writeFile(out, `${JSON.stringify(report, null, 2)}\n`);
    // in the repository's JSON style, so `npm run lint` stays clean after a bench run
    spawnSync(process.execPath, [join(ROOT, 'node_modules/@biomejs/biome/bin/biome'), 'format', '--write', out]);
    console.log(`wrote bench/results/queue.json in ${report.totalSeconds} s`);
  } finally {
    await sampler.close();
    await model.release();
    await redis.dispose();
  }
}

await main();
process.exit(0);
