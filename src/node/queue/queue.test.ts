/**
 * The evaluation through BullMQ on a real redis-server with real worker processes (`npm run
 * worker` as child processes), against the single-process report of the same command.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EvaluationReport } from '../../core/science/evaluate';
import { parseEvalArgs, runEvalCommand } from '../eval';
import { parseVariantsArgs, runVariantsCommand } from '../eval-variants';
import { allOnes } from '../../core/masks';
import type { SampleRequest } from '../../core/science/batch';
import { readManifest } from '../runner';
import { planStage } from './chunks';
import { CHUNK_QUEUE, STAGE_QUEUE } from './connection';
import { QueueError } from './errors';
import { CliProcess, type LocalRedis, freePort, redisServerPath, startLocalRedis, startWorkerProcess } from './local';
import { modelRefOf } from './models';
import { QueueSampler } from './sampler';
import { StageDataSchema } from './schema';

const MODEL = 'public/models/memlab-organism';
/** A small organism evaluation: 4 memorized captions, 16 neutral prompts, 2 steps, neuron masks. */
const EVAL = [
  '--model',
  MODEL,
  '--quick',
  '--units',
  'neurons',
  '--seeds',
  '1',
  '--steps',
  '2',
  '--draws',
  '1',
  '--sparsities',
  '0.05',
  '--no-nemo',
  '--no-cache',
];
/** chunks whose worker is gone are redone after 1.5 x this; two workers share the two cores */
const LOCK = ['--lock-seconds', '3', '--threads', '1'];
/** a worker alone has both cores */
const ALONE = ['--lock-seconds', '3', '--threads', '2'];
const SLOW = 600_000;

const redisPresent = redisServerPath() !== null;
if (!redisPresent) console.warn('queue tests skipped: redis-server is not installed (apt-get install redis-server)');

const withoutTimings = (r: EvaluationReport) => {
  const { timings: _t, ...rest } = r;
  return rest;
};

/** Every chunk job a database holds, and the chunks its stage parents list. */
async function chunkLedger(url: string) {
  const connection = new Redis(url, { maxRetriesPerRequest: null });
  const chunks = new Queue(CHUNK_QUEUE, { connection });
  const stages = new Queue(STAGE_QUEUE, { connection });
  try {
    const counts = await chunks.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized');
    const jobs = await chunks.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed']);
    const parents = await stages.getJobs(['completed']);
    const listed = new Set(parents.flatMap((p) => StageDataSchema.parse(p.data).chunks));
    return { counts, jobs, listed };
  } finally {
    await Promise.all([chunks.close(), stages.close()]);
    connection.disconnect();
  }
}

describe.skipIf(!redisPresent)('the evaluation on BullMQ workers (real redis-server, 2 worker processes)', () => {
  let redis: LocalRedis;
  let dir: string;
  let baseline: EvaluationReport;
  let baselineSvg: string;
  /** the report as its file holds it (JSON writes Infinity as null) */
  let baselineFile: unknown;
  const workers: CliProcess[] = [];
  const db = (n: number) => `${redis.url}/${n}`;
  const evalArgs = (out: string, extra: string[] = []) =>
    parseEvalArgs([...EVAL, '--out', join(dir, `${out}.json`), '--plot', join(dir, `${out}.svg`), ...extra]);

  beforeAll(async () => {
    redis = await startLocalRedis();
    dir = await mkdtemp(join(tmpdir(), 'memlab-queue-'));
    baseline = await runEvalCommand(evalArgs('single'));
    baselineSvg = await readFile(join(dir, 'single.svg'), 'utf8');
    baselineFile = withoutTimings(JSON.parse(await readFile(join(dir, 'single.json'), 'utf8')));
  }, SLOW);

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await redis?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(
    'fails the run with a clear message when the only worker holds another version of the model',
    async () => {
      const other = join(dir, 'models', 'memlab-organism');
      await mkdir(other, { recursive: true });
      const manifest = JSON.parse(await readFile(join(MODEL, 'manifest.json'), 'utf8'));
      await writeFile(
        join(other, 'manifest.json'),
        JSON.stringify({ ...manifest, version: `${manifest.version}-retrained` }),
      );
      const worker = await startWorkerProcess(db(0), [...LOCK, '--models', other]);
      workers.push(worker);
      const run = runEvalCommand(evalArgs('refused', ['--queue', db(0)]), { onStatus: () => {} });
      await expect(run).rejects.toThrow(QueueError);
      await expect(run).rejects.toThrow(
        /refused the chunk: it does not hold memlab-organism .*another version .*Start workers with --models/,
      );
      await worker.kill('SIGTERM');
      // the next test runs the same command on this database, through the stage that failed here
    },
    SLOW,
  );

  it(
    'gives the single-process report bit for bit through a worker SIGKILLed mid-chunk and a Redis restart mid-chunk: the chunk is redone elsewhere, none lost or counted twice',
    async () => {
      const a = await startWorkerProcess(db(0), LOCK);
      const b = await startWorkerProcess(db(0), LOCK);
      workers.push(a, b);
      const run = runEvalCommand(evalArgs('queued', ['--queue', db(0)]), { onStatus: () => {} });
      const started = await a.waitFor(/^started chunk /);
      await a.kill('SIGKILL');
      const killed = started.split(' ')[2];
      // the last stage (final images): Redis goes down while b runs a chunk, and comes back with its data
      await b.waitFor(/^started chunk .* evaluate /);
      await redis.stop();
      await new Promise((r) => setTimeout(r, 3000)); // long enough for everyone to notice
      await redis.start();
      const report = await run;

      expect(withoutTimings(report)).toEqual(withoutTimings(baseline));
      expect(await readFile(join(dir, 'queued.svg'), 'utf8')).toBe(baselineSvg);
      // the generation stage made the same UNet calls as the single process, no more
      expect(report.timings.sampling.unetCalls).toBe(baseline.timings.sampling.unetCalls);
      expect(report.timings.sampling.unetRows).toBe(baseline.timings.sampling.unetRows);
      expect(b.text()).toMatch(/stopped answering[\s\S]*answers again/);

      const ledger = await chunkLedger(db(0));
      expect(ledger.counts).toMatchObject({ failed: 0, active: 0, waiting: 0, delayed: 0, prioritized: 0 });
      expect(ledger.counts.completed).toBe(ledger.listed.size);
      for (const job of ledger.jobs) {
        expect(ledger.listed.has(job.id!)).toBe(true);
        expect(job.attemptsMade).toBe(1); // completed once
      }
      const redone = ledger.jobs.filter((j) => j.id!.startsWith(killed));
      expect(redone).toHaveLength(1);
      expect(redone[0].stalledCounter).toBeGreaterThanOrEqual(1);
      expect(redone[0].returnvalue.worker).not.toMatch(new RegExp(`:${a.proc.pid}/`));
      expect(b.text()).toMatch(new RegExp(`finished chunk ${killed}`));
      // one session for all its chunks: the model was loaded once
      expect(b.lines.filter((l) => l.startsWith('finished chunk')).length).toBeGreaterThanOrEqual(2);
      expect(b.lines.filter((l) => /^loaded memlab-organism /.test(l))).toHaveLength(1);
    },
    SLOW,
  );

  it(
    'stops on Ctrl+C, keeping finished chunks, and a second run resumes from them to the same report',
    async () => {
      const url = db(1);
      const worker = await startWorkerProcess(url, ALONE);
      workers.push(worker);
      const out = join(dir, 'resumed');
      const first = new CliProcess('src/node/eval.ts', [
        ...EVAL,
        '--out',
        `${out}.json`,
        '--plot',
        `${out}.svg`,
        '--queue',
        url,
      ]);
      await worker.waitFor(/^finished chunk /);
      first.proc.kill('SIGINT');
      expect(await first.exited).toBe(130);
      expect(first.text()).toMatch(/stopped ".*": \d+ of \d+ chunks are finished and stay in Redis/);
      const stopped = await chunkLedger(url);
      expect(stopped.counts.completed).toBeGreaterThanOrEqual(1);
      expect(stopped.counts.waiting + stopped.counts.prioritized + stopped.counts.delayed).toBe(0);

      const second = new CliProcess('src/node/eval.ts', [
        ...EVAL,
        '--out',
        `${out}.json`,
        '--plot',
        `${out}.svg`,
        '--queue',
        url,
      ]);
      expect(await second.exited).toBe(0);
      expect(second.text()).toMatch(/chunks \d+\/\d+ \([1-9]\d* reused\)/);
      const resumed = JSON.parse(await readFile(`${out}.json`, 'utf8')) as EvaluationReport;
      expect(withoutTimings(resumed)).toEqual(baselineFile);
    },
    SLOW,
  );

  it(
    'gives the single-process variant table for a base and its variant (one content hash per model)',
    async () => {
      const url = db(4);
      const worker = await startWorkerProcess(url, ALONE);
      workers.push(worker);
      const args = (name: string, extra: string[] = []) =>
        parseVariantsArgs([
          '--base',
          'fixture-random',
          '--masks',
          'none',
          '--seeds',
          '1',
          '--steps',
          '2',
          '--no-cache',
          '--out',
          join(dir, `${name}.json`),
          '--table',
          join(dir, `${name}.md`),
          ...extra,
        ]);
      const single = await runVariantsCommand(args('variants-single'));
      const queued = await runVariantsCommand(args('variants-queued', ['--queue', url]), { onStatus: () => {} });
      const { timings: _a, ...a } = single;
      const { timings: _b, ...b } = queued;
      expect(b).toEqual(a);
      expect(await readFile(join(dir, 'variants-queued.md'), 'utf8')).toBe(
        await readFile(join(dir, 'variants-single.md'), 'utf8'),
      );
      const ledger = await chunkLedger(url);
      const models = new Set(ledger.jobs.map((j) => j.data.model.id));
      expect(models).toEqual(new Set(['fixture-random', 'fixture-random-variant']));
    },
    SLOW,
  );

  it('ends with a message and a non-zero exit, never a wait, for a bad or unreachable Redis', async () => {
    const closed = `redis://127.0.0.1:${await freePort()}`;
    const eval1 = new CliProcess('src/node/eval.ts', [...EVAL, '--queue', closed]);
    expect(await eval1.exited).toBe(1);
    expect(eval1.text()).toMatch(
      /cannot reach Redis: nothing answers at 127\.0\.0\.1:\d+: is redis-server running there/,
    );
    const eval2 = new CliProcess('src/node/eval.ts', [...EVAL, '--queue', 'http://127.0.0.1:6379']);
    expect(await eval2.exited).toBe(2);
    expect(eval2.text()).toMatch(/--queue: .*must start with redis:\/\/ or rediss:\/\//);
    const worker = new CliProcess('src/node/queue/worker.ts', ['--queue', closed]);
    expect(await worker.exited).toBe(1);
    expect(worker.text()).toMatch(/cannot reach Redis: nothing answers/);
  }, 120_000);

  it('a run whose Redis is gone for longer than it waits fails with a message, and closes without waiting', async () => {
    const own = await startLocalRedis();
    try {
      const manifest = await readManifest(MODEL);
      const ref = await modelRefOf(MODEL, 'int8');
      const prompts = ['a painting of zephyr'];
      const request: SampleRequest = {
        manifest,
        // no model needed to plan: the embeddings' values never leave this process
        embeddings: {
          prompts,
          cond: new Float32Array(0),
          empty: new Float32Array(0),
          tokenMasks: [],
          rowSize: 0,
          encodeBlock: 64,
        },
        maskSets: [allOnes(manifest)],
        rows: Array.from({ length: 4 }, (_, seed) => ({ prompt: 0, seed, maskSet: 0 })),
        options: { steps: 2, guidance: 4, maxRows: 2 },
      };
      const lines: string[] = [];
      const sampler = await QueueSampler.open({
        url: own.url,
        models: [ref],
        ep: 'cpu',
        redisWaitSeconds: 2,
        log: (l) => lines.push(l),
      });
      const stage = sampler.runStage(planStage(request, ref, 'cpu')); // no worker: it waits
      stage.catch(() => {});
      await new Promise((r) => setTimeout(r, 500));
      await own.stop();
      await expect(stage).rejects.toThrow(
        /lost Redis at 127\.0\.0\.1:\d+: no answer for 2 s .*run the same command again/,
      );
      expect(lines.join('\n')).toMatch(/stopped answering/);
      const t0 = Date.now();
      await sampler.close();
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      await own.dispose();
    }
  }, 60_000);

  it('a worker whose Redis is gone for longer than it waits exits with a message', async () => {
    const own = await startLocalRedis();
    try {
      const worker = await startWorkerProcess(own.url, ['--redis-wait-seconds', '2']);
      await own.stop();
      expect(await worker.exited).toBe(1);
      expect(worker.text()).toMatch(/stopped answering[\s\S]*error: lost Redis at 127\.0\.0\.1:\d+: no answer for 2 s/);
    } finally {
      await own.dispose();
    }
  }, 120_000);
});
