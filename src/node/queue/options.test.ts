import { describe, expect, it } from 'vitest';
import { parseEvalArgs } from '../eval';
import { parseVariantsArgs } from '../eval-variants';
import { explainRedisError } from './connection';
import { RateMeter, statusLine } from './progress';
import { RedisUrlSchema } from './schema';
import { UsageError } from '../options';
import { parseWorkerArgs } from './worker';

describe('queue options on the command line', () => {
  it('accepts Redis addresses with a password, a database or TLS, and explains the rest', () => {
    for (const ok of ['redis://127.0.0.1:6379', 'redis://:secret@redis:6380/3', 'rediss://cache.example.org'])
      expect(RedisUrlSchema.safeParse(ok).success).toBe(true);
    const problem = (text: string) => {
      const r = RedisUrlSchema.safeParse(text);
      return r.success ? '' : r.error.issues[0].message;
    };
    expect(problem('localhost:6379')).toMatch(/not a Redis address|not an address/);
    expect(problem('http://127.0.0.1:6379')).toMatch(/must start with redis:\/\/ or rediss:\/\//);
    expect(problem('redis://host:6379/queue')).toMatch(/only a database number/);
  });

  it('adds --queue and --ep to eval and eval:variants, single-process and cpu by default', () => {
    const plain = parseEvalArgs(['--model', 'm']);
    expect(plain.queue).toBeUndefined();
    expect(plain.ep).toBe('cpu');
    expect(parseEvalArgs(['--model', 'm', '--queue', 'redis://h:1', '--ep', 'cuda'])).toMatchObject({
      queue: 'redis://h:1',
      ep: 'cuda',
    });
    expect(() => parseEvalArgs(['--model', 'm', '--queue', 'h:1'])).toThrow(/--queue/);
    expect(() => parseEvalArgs(['--model', 'm', '--ep', 'tpu'])).toThrow(/--ep must be cpu or cuda/);
    expect(parseVariantsArgs(['--queue', 'redis://h:1']).queue).toBe('redis://h:1');
  });

  it('reads the worker options, naming the flag in every complaint', () => {
    const a = parseWorkerArgs(['--queue', 'redis://h:6379', '--concurrency', '2', '--models', 'a', '--models', 'b']);
    expect(a).toMatchObject({ concurrency: 2, ep: 'cpu', models: ['a', 'b'], lockSeconds: 30, redisWaitSeconds: 60 });
    expect(a.threads).toBeGreaterThanOrEqual(1);
    expect(parseWorkerArgs(['--queue', 'redis://h']).models).toEqual(['public/models']);
    expect(() => parseWorkerArgs([])).toThrow(/--queue is required/);
    expect(() => parseWorkerArgs(['--queue', 'redis://h', '--concurrency', 'many'])).toThrow(/--concurrency: /);
    expect(() => parseWorkerArgs(['--queue', 'redis://h', '--lock-seconds', '0'])).toThrow(/--lock-seconds: /);
    expect(() => parseWorkerArgs(['--queue', 'redis://h', '--ep', 'gpu'])).toThrow(UsageError);
    expect(() => parseWorkerArgs(['--queue', 'redis://h', '--frobnicate'])).toThrow(UsageError);
  });

  it('says what a connection error means', () => {
    const url = 'redis://:secret@redis.example.org:6380';
    const refused = explainRedisError(url, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(refused).toMatch(/nothing answers at redis\.example\.org:6380: is redis-server running there/);
    expect(refused).not.toContain('secret');
    expect(explainRedisError(url, Object.assign(new Error('getaddrinfo'), { code: 'ENOTFOUND' }))).toMatch(/unknown/);
    expect(explainRedisError(url, new Error('WRONGPASS invalid username-password pair'))).toMatch(/password/);
  });
});

describe('queue progress', () => {
  it('measures UNet calls per second over a sliding window, from the first finished chunk on', () => {
    const m = new RateMeter(10_000);
    m.add(0, 0);
    m.add(1000, 0);
    expect(m.rate()).toBeNull(); // nothing finished yet
    m.add(2000, 20);
    expect(m.rate()).toBeCloseTo(10);
    m.add(20_000, 200);
    expect(m.rate()).toBeCloseTo(10); // readings older than the window dropped, the last of them kept
    m.add(25_000, 300);
    expect(m.rate()).toBeCloseTo((300 - 20) / 23); // from the last reading before the window
  });

  it('prints chunks, speed, workers and time left', () => {
    const base = { stage: 'evaluate', total: 10, reused: 2, callsPerChunk: 25, workers: 3 };
    expect(statusLine({ ...base, done: 4, callsPerSecond: 12.5, etaSeconds: 150 })).toBe(
      'evaluate: chunks 4/10 (2 reused) · 12.5 UNet calls/s · 3 workers · ETA 2 min 30 s',
    );
    expect(statusLine({ ...base, done: 2, callsPerSecond: null, etaSeconds: null, workers: 0 })).toMatch(
      /measuring speed · 0 workers · waiting for workers \(start some with npm run worker\)/,
    );
    expect(statusLine({ ...base, done: 10, callsPerSecond: 9, etaSeconds: 0 })).toMatch(/· done$/);
  });
});
