/**
 * The producer's side: a RowSampler (core/science/context.ts) that sends a sampleRows call to the
 * workers as one BullMQ flow, a parent job per stage with one child per chunk, and waits for it.
 *
 *   attach   chunk ids are content hashes, so what a previous run (or another producer) finished is
 *            found, not recomputed. Chunks this stage owns become the children of its parent; a
 *            finished or running chunk that belongs to another stage's parent (BullMQ gives a job one
 *            parent) is waited for and read directly. Failed chunks are taken off and queued again.
 *   wait     polls the parent's finished-children count: progress, UNet calls/s, ETA. A failed
 *            chunk fails the parent (failParentOnFailure) and the run, with the worker's reason.
 *   gather   once a worker has processed the parent (it checks that every child finished), the
 *            children's results are read, checked and put back in row order (chunks.ts).
 *   stop     Ctrl+C: the stage's parent and its chunks not yet started are taken off the queue;
 *            finished chunks stay, running ones finish and stay. The same command resumes.
 *
 * Calls that make fewer than `minChunks` chunks (NeMo's one-batch searches) run here: a round trip
 * through Redis would cost more than the batch (bench/queue.ts measures the overhead per chunk).
 */
import { FlowProducer, type Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Manifest } from '../../core/manifest';
import type { SampleRequest, SampleResult } from '../../core/science/batch';
import { type RowSampler, type RunContext, throwIfAborted } from '../../core/science/context';
import {
  type ChunkPlan,
  type ExecutionProviderName,
  type StagePlan,
  assembleResult,
  planStage,
  unsendable,
} from './chunks';
import { CHUNK_QUEUE, RedisWatch, STAGE_QUEUE, openRedis } from './connection';
import { QueueError } from './errors';
import { describeModel } from './models';
import { RateMeter, type StageStatus } from './progress';
import { type ChunkResult, ChunkResultSchema, type ModelRef, type StageData, describeIssues } from './schema';

export interface QueueSamplerOptions {
  url: string;
  /** the models this run may send, by manifest id and version */
  models: readonly ModelRef[];
  ep: ExecutionProviderName;
  /** default 2 */
  minChunks?: number;
  /** default 250 ms */
  pollMs?: number;
  /** how long to wait for Redis to come back; default 60 s */
  redisWaitSeconds?: number;
  /** one-off messages (Redis lost and back, stopped) */
  log?: (line: string) => void;
  onStatus?: (status: StageStatus) => void;
}

/** What this producer did, for the summary line and the tests. */
export interface QueueStats {
  stages: number;
  chunks: number;
  /** chunks already finished when their stage was reached */
  reused: number;
  /** sampleRows calls kept local (too small, or not sendable) */
  local: number;
}

const JOB_RETENTION = { removeOnComplete: false, removeOnFail: false } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class QueueSampler implements RowSampler {
  readonly stats: QueueStats = { stages: 0, chunks: 0, reused: 0, local: 0 };
  private readonly chunks: Queue;
  private readonly stages: Queue;
  private readonly flow: FlowProducer;
  private readonly log: (line: string) => void;
  private workers: { count: number | null; at: number } = { count: null, at: 0 };

  private constructor(
    private readonly client: Redis,
    private readonly watch: RedisWatch,
    private readonly options: QueueSamplerOptions,
  ) {
    const connection = client;
    this.chunks = new Queue(CHUNK_QUEUE, { connection });
    this.stages = new Queue(STAGE_QUEUE, { connection });
    this.flow = new FlowProducer({ connection });
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    // connection errors are reported by RedisWatch
    this.chunks.on('error', () => {});
    this.stages.on('error', () => {});
    this.flow.on('error', () => {});
  }

  /** Connects (or fails with a message) and returns a sampler ready for RunContext.sampler. */
  static async open(options: QueueSamplerOptions): Promise<QueueSampler> {
    const client = await openRedis(options.url);
    const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const watch = new RedisWatch(client, options.url, (options.redisWaitSeconds ?? 60) * 1000, log);
    return new QueueSampler(client, watch, options);
  }

  /** Closes the connections; never waits more than 2 s (Redis may be gone). */
  async close(): Promise<void> {
    this.watch.stop();
    await Promise.race([
      Promise.allSettled([this.chunks.close(), this.stages.close(), this.flow.close()]),
      sleep(2000),
    ]);
    this.client.disconnect();
  }

  private modelOf(manifest: Manifest): ModelRef | undefined {
    return this.options.models.find((m) => m.id === manifest.id && m.version === manifest.version);
  }

  async sample(req: SampleRequest, ctx: RunContext): Promise<SampleResult | undefined> {
    const model = this.modelOf(req.manifest);
    const plan = model && !unsendable(req) ? planStage(req, model, this.options.ep) : null;
    if (!plan || plan.chunks.length < (this.options.minChunks ?? 2)) {
      this.stats.local++;
      return undefined;
    }
    const results = await this.runStage(plan, ctx);
    return assembleResult(req, plan, results);
  }

  /** Runs a planned stage on the workers and returns its chunks' results in plan order. */
  async runStage(plan: StagePlan, ctx: RunContext = {}): Promise<ChunkResult[]> {
    const g = <T>(p: Promise<T>) => this.watch.guard(p);
    this.stats.stages++;
    this.stats.chunks += plan.chunks.length;
    let { own, borrowed } = await g(this.attach(plan));
    const meter = new RateMeter();
    let reused: number | null = null;
    for (;;) {
      if (ctx.signal?.aborted) {
        await g(this.stop(plan, own));
        throwIfAborted(ctx.signal, `waiting for the workers (${plan.stage})`);
      }
      const parent = own.length ? await g(this.stages.getJob(plan.id)) : undefined;
      if (own.length && !parent) {
        // another producer stopped this stage under us: put it back
        ({ own, borrowed } = await g(this.attach(plan)));
        continue;
      }
      const state = parent ? await g(parent.getState()) : 'completed';
      if (state === 'failed') throw await g(this.failure(plan, own));
      const counts = parent ? await g(parent.getDependenciesCount()) : {};
      const borrowedStates = await g(Promise.all(borrowed.map((c) => this.chunkState(c.id))));
      const failedBorrowed = borrowed.filter((_, i) => borrowedStates[i] === 'failed');
      if (failedBorrowed.length) throw await g(this.failure(plan, failedBorrowed));
      const ownDone = state === 'completed' ? own.length : (counts.processed ?? 0);
      const done = ownDone + borrowedStates.filter((s) => s === 'completed').length;
      reused ??= done;
      const now = Date.now();
      meter.add(now, done * plan.run);
      const rate = meter.rate();
      const status: StageStatus = {
        stage: plan.stage,
        done,
        total: plan.chunks.length,
        reused,
        callsPerChunk: plan.run,
        callsPerSecond: rate,
        etaSeconds: rate ? ((plan.chunks.length - done) * plan.run) / rate : null,
        workers: await g(this.workerCount(now)),
      };
      this.options.onStatus?.(status);
      if (state === 'completed' && done === plan.chunks.length) {
        this.stats.reused += reused;
        break;
      }
      await sleep(this.options.pollMs ?? 250);
    }
    return g(this.gather(plan, own, borrowed));
  }

  private async workerCount(now: number): Promise<number | null> {
    if (now - this.workers.at > 5000) {
      // CLIENT LIST; some hosted Redis services refuse it, and then the count is simply not shown
      const count = await this.chunks.getWorkersCount().catch(() => null);
      this.workers = { count, at: now };
    }
    return this.workers.count;
  }

  private async chunkState(id: string): Promise<string> {
    const job = await this.chunks.getJob(id);
    return job ? job.getState() : 'missing';
  }

  private parentKeyOf(id: string): string {
    return `${this.stages.qualifiedName}:${id}`;
  }

  /** Adds the stage's flow; splits its chunks into own children and chunks owned by another stage. */
  private async attach(plan: StagePlan): Promise<{ own: ChunkPlan[]; borrowed: ChunkPlan[] }> {
    const parentKey = this.parentKeyOf(plan.id);
    const parent = await this.stages.getJob(plan.id);
    if (parent && (await parent.getState()) === 'failed') await parent.remove({ removeChildren: false });
    const own: ChunkPlan[] = [];
    const borrowed: ChunkPlan[] = [];
    for (const c of plan.chunks) {
      const job = await this.chunks.getJob(c.id);
      if (job && (await job.getState()) === 'failed') {
        await job.remove();
        own.push(c);
      } else if (job?.parentKey && job.parentKey !== parentKey && (await this.client.exists(job.parentKey))) {
        borrowed.push(c);
      } else own.push(c);
    }
    if (own.length) {
      const data: StageData = {
        schema: 'memlab-stage/1',
        model: plan.model,
        ep: plan.ep,
        stage: plan.stage,
        chunks: own.map((c) => c.id),
      };
      const n = plan.chunks.length;
      await this.flow.add({
        name: `${plan.model.id} ${plan.stage}`,
        queueName: STAGE_QUEUE,
        data,
        opts: { jobId: plan.id, ...JOB_RETENTION },
        children: own.map((c) => ({
          name: `${plan.model.id} ${plan.stage} rows ${c.start}-${c.start + c.rows - 1} of ${plan.chunks.at(-1)!.start + plan.chunks.at(-1)!.rows} (${plan.chunks.indexOf(c) + 1}/${n})`,
          queueName: CHUNK_QUEUE,
          data: c.spec,
          opts: {
            jobId: c.id,
            failParentOnFailure: true,
            // one more try for errors a worker did not mark as final (UnrecoverableError is final)
            attempts: 2,
            backoff: { type: 'fixed', delay: 1000 },
            ...JOB_RETENTION,
          },
        })),
      });
    }
    return { own, borrowed };
  }

  /** The error that ends the run when a chunk failed: the worker's own reason. */
  private async failure(plan: StagePlan, candidates: readonly ChunkPlan[]): Promise<QueueError> {
    for (const c of candidates) {
      const job = await this.chunks.getJob(c.id);
      if (job && (await job.getState()) === 'failed') {
        const stalled = /stalled more than allowable limit/.test(job.failedReason)
          ? ' (its workers stopped answering three times while running it: a chunk that crashes workers, out of memory perhaps)'
          : '';
        return new QueueError(
          `a worker could not run chunk ${plan.chunks.indexOf(c) + 1} of ${plan.chunks.length} of "${plan.stage}" on ${describeModel(plan.model)}: ${job.failedReason}${stalled}`,
        );
      }
    }
    const parent = await this.stages.getJob(plan.id);
    return new QueueError(`stage "${plan.stage}" failed on the queue: ${parent?.failedReason ?? 'no reason recorded'}`);
  }

  private async gather(plan: StagePlan, own: readonly ChunkPlan[], borrowed: readonly ChunkPlan[]) {
    const values: Record<string, unknown> = {};
    if (own.length) {
      const parent = (await this.stages.getJob(plan.id)) as Job;
      const children = await parent.getChildrenValues();
      for (const c of own) values[c.id] = children[`${this.chunks.qualifiedName}:${c.id}`];
    }
    for (const c of borrowed) values[c.id] = (await this.chunks.getJob(c.id))?.returnvalue;
    return plan.chunks.map((c, k) => {
      const parsed = ChunkResultSchema.safeParse(values[c.id]);
      if (!parsed.success)
        throw new QueueError(
          `chunk ${k + 1} of "${plan.stage}" finished without a readable result (${describeIssues(parsed.error)})`,
        );
      return parsed.data;
    });
  }

  /** Takes the stage's parent and its not-yet-started chunks off the queue; finished ones stay. */
  private async stop(plan: StagePlan, own: readonly ChunkPlan[]): Promise<void> {
    const parent = await this.stages.getJob(plan.id);
    await parent?.remove({ removeChildren: false }).catch(() => {});
    let finished = 0;
    let running = 0;
    for (const c of own) {
      const job = await this.chunks.getJob(c.id);
      const state = job ? await job.getState() : 'missing';
      if (state === 'completed') finished++;
      else if (state === 'active') running++;
      else if (job) await job.remove().catch(() => running++); // taken by a worker meanwhile
    }
    this.log(
      `stopped "${plan.stage}": ${finished} of ${plan.chunks.length} chunks are finished and stay in Redis, ${running} running will finish and stay; the rest were taken off the queue. Run the same command again to resume.`,
    );
  }
}
