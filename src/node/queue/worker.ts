/**
 * `npm run worker -- --queue redis://host:6379 [...]`: a long-lived worker that takes chunks of
 * evaluation jobs (`npm run eval -- --queue ...`) from Redis and runs them on onnxruntime-node.
 *
 *   chunks   BullMQ Worker on memlab-chunks with a sandboxed processor (processor.ts: one thread per
 *            concurrent chunk, each keeping its onnxruntime sessions warm across chunks)
 *   stages   BullMQ Worker on memlab-stages: processes a stage's parent job once all its chunks are
 *            done (checks that none is missing or failed), which lets the producer gather them
 *
 * Stalled chunks: the main thread renews each chunk's lock every lockSeconds / 2 and never waits
 * on the UNet (that runs in the sandbox thread), so a lock expires only when a worker is gone
 * (SIGKILL, a lost machine). Every worker checks every lockSeconds / 2 for expired locks and puts
 * such chunks back in the queue, so another worker redoes them within 1.5 x lockSeconds; the dead
 * worker's result, were it to come, is refused (its lock is gone), so nothing counts twice. A chunk
 * may lose its worker twice; the third time it fails the run (a chunk that kills its workers).
 * Default 30 s: long enough to ride out a network hiccup or a Redis restart without redoing work,
 * short against a real model's chunk (minutes on CPU).
 */
import { existsSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type Job, Worker } from 'bullmq';
import { HelpRequested, UsageError, parseOptions } from '../options';
import { ModelDirError } from '../runner';
import { CHUNK_QUEUE, RedisWatch, STAGE_QUEUE, openRedis, redisAddress } from './connection';
import { QueueError } from './errors';
import { describeCatalog, scanModels } from './models';
import type { ProcessorConfig } from './processor';
import { type ChunkResult, StageDataSchema, type WorkerArgs, WorkerArgsSchema, describeIssues } from './schema';

export const WORKER_USAGE = `usage: npm run worker -- --queue redis://host:6379
  [--concurrency 1]            chunks at a time (one thread and one onnxruntime session each)
  [--ep cpu|cuda]              onnxruntime execution provider (cuda: see docs/queue.md)
  [--models public/models ...] model folders, or folders of model folders, this worker serves
  [--threads N]                onnxruntime threads per chunk (default: cores / concurrency)
  [--lock-seconds 30]          a chunk whose worker stops answering is redone after 1.5x this
  [--redis-wait-seconds 60]    how long to wait for Redis to come back before exiting`;

export function parseWorkerArgs(argv: string[]): WorkerArgs {
  const values = parseOptions(argv, {
    queue: { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    ep: { type: 'string', default: 'cpu' },
    models: { type: 'string', multiple: true },
    threads: { type: 'string' },
    'lock-seconds': { type: 'string', default: '30' },
    'redis-wait-seconds': { type: 'string', default: '60' },
  });
  if (values.queue === undefined) throw new UsageError('--queue is required (the Redis address, redis://host:6379)');
  const concurrency = Number(values.concurrency);
  const parsed = WorkerArgsSchema.safeParse({
    queue: values.queue,
    concurrency,
    ep: values.ep,
    models: values.models ?? ['public/models'],
    threads:
      values.threads === undefined
        ? Math.max(1, Math.floor(availableParallelism() / concurrency))
        : Number(values.threads),
    lockSeconds: Number(values['lock-seconds']),
    redisWaitSeconds: Number(values['redis-wait-seconds']),
  });
  if (!parsed.success) {
    const flag = (key: PropertyKey) => `--${String(key).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
    throw new UsageError(
      parsed.error.issues.map((i) => `${i.path.length ? `${flag(i.path[0])}: ` : ''}${i.message}`).join('; '),
    );
  }
  return parsed.data;
}

/** The CUDA provider library onnxruntime-node loads for --ep cuda (absent from the CPU-only install). */
function cudaProviderPresent(): boolean {
  const pkg = join(dirname(fileURLToPath(import.meta.resolve('onnxruntime-node'))), '..'); // dist/index.js
  const dir = join(pkg, 'bin', 'napi-v6', process.platform, process.arch);
  return existsSync(join(dir, 'libonnxruntime_providers_cuda.so'));
}

const short = (id: string | undefined) => (id ?? '?').slice(0, 13);

export interface RunningWorker {
  name: string;
  closed: Promise<void>;
  /** finishes the chunks in hand, then disconnects */
  close(): Promise<void>;
}

/** Starts the two BullMQ workers; logs one line per chunk. */
export async function startWorker(args: WorkerArgs, log: (line: string) => void): Promise<RunningWorker> {
  const catalog = await scanModels(args.models);
  if (args.ep === 'cuda' && !cudaProviderPresent())
    throw new QueueError(
      "this machine's onnxruntime-node has no CUDA execution provider (libonnxruntime_providers_cuda.so is missing): install the node modules with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci on a machine with CUDA 12 and cuDNN 9, or start the worker with --ep cpu",
    );
  const client = await openRedis(args.queue);
  const name = `${hostname()}:${process.pid}`;
  let closing: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const watch = new RedisWatch(
    client,
    args.queue,
    args.redisWaitSeconds * 1000,
    log,
    'The chunks this worker had in hand go back to the queue once Redis is back.',
  );
  const config: ProcessorConfig = { catalog, ep: args.ep, threads: args.threads };
  const lockDuration = args.lockSeconds * 1000;
  const chunks = new Worker(CHUNK_QUEUE, fileURLToPath(new URL('./sandbox.mjs', import.meta.url)), {
    connection: client,
    concurrency: args.concurrency,
    useWorkerThreads: true,
    workerThreadsOptions: { workerData: config },
    lockDuration,
    stalledInterval: lockDuration / 2,
    maxStalledCount: 2,
    name,
  });
  const stages = new Worker(
    STAGE_QUEUE,
    async (job: Job) => {
      const data = StageDataSchema.safeParse(job.data);
      if (!data.success) throw new Error(`not a memlab-stage/1 job (${describeIssues(data.error)})`);
      const counts = await job.getDependenciesCount();
      if (
        (counts.unprocessed ?? 0) > 0 ||
        (counts.failed ?? 0) > 0 ||
        (counts.processed ?? 0) < data.data.chunks.length
      )
        throw new Error(
          `stage "${data.data.stage}" is not complete: ${counts.processed ?? 0} of ${data.data.chunks.length} chunks finished, ${counts.failed ?? 0} failed`,
        );
      return { chunks: counts.processed, gatheredBy: name };
    },
    { connection: client, concurrency: 4, name },
  );
  const started = new Map<string, number>();
  chunks.on('active', (job) => {
    started.set(job.id!, Date.now());
    log(`started chunk ${short(job.id)} ${job.name}`);
  });
  chunks.on('completed', (job, result: ChunkResult) => {
    const s = (Date.now() - (started.get(job.id!) ?? Date.now())) / 1000;
    started.delete(job.id!);
    log(
      `finished chunk ${short(job.id)}: ${result.unetCalls} UNet calls of ${result.unetRows / Math.max(1, result.unetCalls)} rows in ${s.toFixed(1)} s (${(result.unetCalls / Math.max(s, 1e-3)).toFixed(1)} calls/s)`,
    );
  });
  chunks.on('failed', (job, error) => {
    if (job) started.delete(job.id!);
    log(`chunk ${short(job?.id)} failed: ${error.message}`);
  });
  let lastError = '';
  for (const w of [chunks, stages])
    w.on('error', (e) => {
      // connection trouble is reported once by RedisWatch; anything else once per distinct message
      if (/ECONNREFUSED|ECONNRESET|Connection is closed|EPIPE|ETIMEDOUT/.test(e.message) || e.message === lastError)
        return;
      lastError = e.message;
      log(`worker error: ${e.message}`);
    });
  const close = () => {
    closing ??= (async () => {
      watch.stop();
      await Promise.allSettled([chunks.close(), stages.close()]);
      client.disconnect();
      resolveClosed();
    })();
    return closing;
  };
  watch.lost.catch(async (e: Error) => {
    log(`error: ${e.message}`);
    await Promise.race([
      Promise.allSettled([chunks.close(true), stages.close(true)]),
      new Promise((r) => setTimeout(r, 2000)),
    ]);
    client.disconnect();
    process.exitCode = 1;
    resolveClosed();
  });
  await chunks.waitUntilReady();
  log(
    `worker ${name} on ${redisAddress(args.queue)}: ${args.concurrency} chunk${args.concurrency > 1 ? 's' : ''} at a time on ${args.ep}, ${args.threads} thread${args.threads > 1 ? 's' : ''} each; serving ${describeCatalog(catalog)}`,
  );
  return { name, closed, close };
}

async function main(argv: string[]): Promise<number> {
  const log = (line: string) => console.log(line);
  let worker: RunningWorker;
  try {
    worker = await startWorker(parseWorkerArgs(argv), log);
  } catch (e) {
    if (e instanceof HelpRequested) {
      console.log(WORKER_USAGE);
      return 0;
    }
    if (e instanceof UsageError) {
      console.error(`error: ${e.message}\n${WORKER_USAGE}`);
      return 2;
    }
    if (e instanceof QueueError || e instanceof ModelDirError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  }
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) process.exit(130); // chunks in hand go back to the queue when their locks expire
    log('finishing the chunks in hand, then stopping (press Ctrl+C again to stop at once)');
    void worker.close();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await worker.closed;
  return typeof process.exitCode === 'number' ? process.exitCode : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
  // BullMQ's sandbox threads and timers can outlive close(); the work is done
  process.exit();
}
