/**
 * A real redis-server and real worker processes on this machine, for the queue's tests and
 * benchmark: Redis on a free loopback port with its data in a temporary folder (appendonly, so a
 * restart keeps what was written), and `npm run worker` as child processes whose output lines can
 * be waited for.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';

/** The redis-server executable, or null when it is not installed. */
export function redisServerPath(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return found.status === 0 && found.stdout.trim() ? found.stdout.trim() : null;
}

export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => done(port));
    });
  });
}

export interface LocalRedis {
  url: string;
  port: number;
  dir: string;
  /** SIGTERM: Redis writes its data and exits (a clean restart) */
  stop(): Promise<void>;
  /** starts it again on the same port and data folder */
  start(): Promise<void>;
  /** stops it and deletes its data */
  dispose(): Promise<void>;
}

async function waitForPing(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return;
    } catch {
      client.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server at ${url} did not start within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

export async function startLocalRedis(): Promise<LocalRedis> {
  const exe = redisServerPath();
  if (!exe) throw new Error('redis-server is not installed (Debian: apt-get install redis-server)');
  const dir = await mkdtemp(join(tmpdir(), 'memlab-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | null = null;
  const start = async () => {
    proc = spawn(
      exe,
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--save',
        '',
        '--logfile',
        '',
      ],
      { stdio: 'ignore' },
    );
    await waitForPing(url, 10_000);
  };
  const stop = async () => {
    const p = proc;
    proc = null;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    url,
    port,
    dir,
    start,
    stop,
    async dispose() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** A child process running one of the project's CLIs (as `npm run` does, through tsx), its output collected. */
export class CliProcess {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  private waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  readonly exited: Promise<number | null>;

  constructor(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
    // node itself with tsx's loader (not the tsx command, which runs the script in a second
    // process): a signal sent to `proc` reaches the CLI, as a SIGKILL of a worker must.
    this.proc = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = { out: '', err: '' };
    const onData = (key: 'out' | 'err') => (chunk: Buffer) => {
      const text = partial[key] + chunk.toString();
      const parts = text.split(/\r?\n|\r/);
      partial = { ...partial, [key]: parts.pop()! };
      for (const line of parts) this.push(line);
    };
    this.proc.stdout!.on('data', onData('out'));
    this.proc.stderr!.on('data', onData('err'));
    this.exited = new Promise((r) =>
      this.proc.once('exit', (code, signal) => {
        for (const key of ['out', 'err'] as const) if (partial[key]) this.push(partial[key]);
        r(code ?? (signal ? 128 : null));
      }),
    );
  }

  private push(line: string): void {
    this.lines.push(line);
    this.waiters = this.waiters.filter((w) => {
      if (!w.re.test(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /** The first line (already printed or to come) matching `re`. */
  waitFor(re: RegExp, ms = 120_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((done, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`no line matching ${re} within ${ms} ms; output:\n${this.lines.join('\n')}`)),
        ms,
      );
      this.waiters.push({
        re,
        resolve: (line) => {
          clearTimeout(timer);
          done(line);
        },
      });
    });
  }

  text(): string {
    return this.lines.join('\n');
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    await this.exited;
  }
}

/** `npm run worker` with these options, resolved once it says it is serving. */
export async function startWorkerProcess(url: string, args: string[] = []): Promise<CliProcess> {
  const worker = new CliProcess('src/node/queue/worker.ts', ['--queue', url, ...args]);
  await Promise.race([
    worker.waitFor(/^worker .* serving /),
    worker.exited.then((code) => {
      throw new Error(`worker exited (${code}) before serving:\n${worker.text()}`);
    }),
  ]);
  return worker;
}
