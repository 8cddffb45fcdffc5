/**
 * Redis for the queue: one connection opened with a deadline (a wrong address ends with a message,
 * never a wait without end), and a watch that pings it once a second. When Redis stops answering
 * the watch says so, waits `redisWaitSeconds` for it to come back (a restart with its data on
 * disk: the run carries on), and otherwise fails the run with a message that says what survives.
 *
 * BullMQ 6 brings no Redis driver of its own; ioredis is the one it is built and tested with, and
 * it gets a client instance rather than options, which also works from ES modules.
 */
import { Redis } from 'ioredis';
import { QueueError } from './errors';

/** The two queues: chunks (the UNet work) and stages (the parent job that gathers a stage's chunks). */
export const CHUNK_QUEUE = 'memlab-chunks';
export const STAGE_QUEUE = 'memlab-stages';

/** host:port of an address, without its password (for messages). */
export function redisAddress(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || '6379'}`;
}

/** Why a connection failed, in words a user can act on. */
export function explainRedisError(url: string, error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  const where = redisAddress(url);
  const code = e?.code ?? '';
  const message = e?.message ?? String(error);
  if (code === 'ECONNREFUSED')
    return `nothing answers at ${where}: is redis-server running there, and on that port? (${message})`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return `the host "${new URL(url).hostname}" is unknown: check the address (${message})`;
  if (/NOAUTH|WRONGPASS|invalid password/i.test(message))
    return `Redis at ${where} wants a password, or refused the one given: put it in the address, redis://:password@host:6379 (${message})`;
  if (code === 'ETIMEDOUT' || /timed out|timeout/i.test(message))
    return `${where} did not answer in time: a firewall, the wrong host, or not a Redis server? (${message})`;
  return `${where}: ${message}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error(`${what} timed out after ${ms} ms`), { code: 'ETIMEDOUT' })),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens a client for BullMQ (maxRetriesPerRequest null: commands wait through a reconnect, the
 * watch decides when waiting is over). Throws QueueError when Redis cannot be reached in time.
 */
export async function openRedis(url: string, timeoutMs = 5000): Promise<Redis> {
  let lastError: unknown;
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: timeoutMs,
    retryStrategy: (times) => Math.min(200 * times, 2000),
  });
  // Connection errors are reported by the deadline below and by RedisWatch, not as ioredis's
  // "unhandled error event" warnings.
  client.on('error', (e) => {
    lastError = e;
  });
  try {
    await withTimeout(
      client.connect().then(() => client.ping()),
      timeoutMs,
      'connecting',
    );
  } catch (e) {
    client.disconnect();
    throw new QueueError(`cannot reach Redis: ${explainRedisError(url, lastError ?? e)}`);
  }
  return client;
}

const PING_TIMEOUT_MS = 2000;

/** Watches a Redis connection; `lost` rejects once Redis has been gone longer than the grace period. */
export class RedisWatch {
  readonly lost: Promise<never>;
  private fail!: (e: Error) => void;
  private timer: NodeJS.Timeout | undefined;
  private downSince: number | null = null;
  private checking = false;
  private readonly client: Redis;

  constructor(
    main: Redis,
    private readonly url: string,
    private readonly graceMs: number,
    private readonly log: (line: string) => void,
    private readonly whatSurvives = 'Finished chunks stay in Redis if it keeps its data on disk (appendonly yes); run the same command again to carry on from them.',
  ) {
    this.lost = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.lost.catch(() => {}); // observed through guard() or by the owner
    // Its own connection, without an offline queue: a ping fails at once while Redis is away.
    this.client = main.duplicate({ enableOfflineQueue: false, lazyConnect: false, maxRetriesPerRequest: 1 });
    this.client.on('error', () => {});
    this.timer = setInterval(() => void this.check(), 1000);
    this.timer.unref();
  }

  /** `promise`, unless Redis is lost first. */
  guard<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.lost]);
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    const sent = Date.now();
    try {
      await withTimeout(this.client.ping(), PING_TIMEOUT_MS, 'ping');
      if (this.downSince !== null) {
        const s = ((Date.now() - this.downSince) / 1000).toFixed(0);
        this.log(`Redis at ${redisAddress(this.url)} answers again (after ${s} s); carrying on`);
        this.downSince = null;
      }
    } catch (e) {
      const now = Date.now();
      // A timeout that fired late means this thread was busy (onnxruntime holds it during a local
      // UNet call) and the answer may be waiting unread: not a sign that Redis is gone.
      if ((e as NodeJS.ErrnoException).code === 'ETIMEDOUT' && now - sent > PING_TIMEOUT_MS + 500) return;
      if (this.downSince === null) {
        this.downSince = now;
        this.log(
          `Redis at ${redisAddress(this.url)} stopped answering (${explainRedisError(this.url, e)}); waiting up to ${Math.round(this.graceMs / 1000)} s for it to come back`,
        );
      } else if (now - this.downSince > this.graceMs) {
        this.stop();
        this.fail(
          new QueueError(
            `lost Redis at ${redisAddress(this.url)}: no answer for ${Math.round(this.graceMs / 1000)} s (${explainRedisError(this.url, e)}). ${this.whatSurvives}`,
          ),
        );
      }
    } finally {
      this.checking = false;
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.client.disconnect();
  }
}
