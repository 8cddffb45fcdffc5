import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { DownloadError, fetchVerified, type FileEntry } from './download';

/** A minimal in-memory Cache API (Node has none). */
class MemoryCache {
  readonly entries = new Map<string, ArrayBuffer>();
  async match(key: string) {
    const hit = this.entries.get(key);
    return hit ? new Response(hit.slice(0)) : undefined;
  }
  async put(key: string, response: Response) {
    this.entries.set(key, await response.arrayBuffer());
  }
  async delete(key: string | Request) {
    return this.entries.delete(typeof key === 'string' ? key : key.url);
  }
  async keys() {
    return [...this.entries.keys()].map((url) => new Request(url));
  }
}

const bytes = new Uint8Array(5000).map((_, i) => (i * 31) % 251);
const entry: FileEntry = {
  path: 'unet.onnx',
  bytes: bytes.length,
  sha256: createHash('sha256').update(bytes).digest('hex'),
};
const base = 'http://127.0.0.1:9/models/m/';
let cache: MemoryCache;
let served: Uint8Array;
const fetchMock = vi.fn(async () => new Response(served.slice(0)));

beforeEach(() => {
  cache = new MemoryCache();
  served = bytes;
  fetchMock.mockClear();
  vi.stubGlobal('caches', { open: async () => cache });
  vi.stubGlobal('fetch', fetchMock);
});

afterEach(() => vi.unstubAllGlobals());

async function failure(p: Promise<unknown>): Promise<DownloadError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DownloadError);
  return err as DownloadError;
}

describe('fetchVerified', () => {
  test('downloads, verifies, caches, and then serves from the cache without fetching', async () => {
    const progress: number[] = [];
    const first = await fetchVerified(base, entry, (p) => progress.push(p.loaded));
    expect(first.fromCache).toBe(false);
    expect(new Uint8Array(first.bytes)).toEqual(bytes);
    expect(progress.at(-1)).toBe(entry.bytes);
    expect(cache.entries.size).toBe(1);

    const second = await fetchVerified(base, entry, () => undefined);
    expect(second.fromCache).toBe(true);
    expect(new Uint8Array(second.bytes)).toEqual(bytes);
    expect(fetchMock).toHaveBeenCalledTimes(1);
  });

  test('a truncated body is refused with the byte counts and never cached', async () => {
    served = bytes.subarray(0, 1200);
    const err = await failure(fetchVerified(base, entry, () => undefined));
    expect(err.failure).toBe('truncated');
    expect(err.message).toMatch(/stopped before the end/);
    expect(err.detail).toMatch(/received 1,200 of 5,000 bytes/);
    expect(err.retryable).toBe(true);
    expect(cache.entries.size).toBe(0);
  });

  test('a corrupt body of the right size fails the checksum and is never cached', async () => {
    served = bytes.map((b, i) => (i === 10 ? b ^ 1 : b));
    const err = await failure(fetchVerified(base, entry, () => undefined));
    expect(err.failure).toBe('checksum');
    expect(err.message).toMatch(/damaged/);
    expect(err.message).not.toMatch(/sha256/);
    expect(err.detail).toContain(`the manifest expects ${entry.sha256}`);
    expect(err.retryable).toBe(false);
    expect(cache.entries.size).toBe(0);
  });

  test('a body larger than the manifest says is refused', async () => {
    served = new Uint8Array(entry.bytes + 10);
    expect((await failure(fetchVerified(base, entry, () => undefined))).failure).toBe('oversize');
  });

  test('HTTP errors and unreachable servers are told apart: only what a retry can fix is retryable', async () => {
    fetchMock.mockImplementationOnce(async () => new Response('nope', { status: 404 }));
    const missing = await failure(fetchVerified(base, entry, () => undefined));
    expect(missing.message).toMatch(/not on the server/);
    expect(missing.detail).toMatch(/HTTP 404/);
    expect(missing.retryable).toBe(false);
    fetchMock.mockImplementationOnce(async () => new Response('busy', { status: 503 }));
    const busy = await failure(fetchVerified(base, entry, () => undefined));
    expect(busy.message).toMatch(/Try again in a moment/);
    expect(busy.retryable).toBe(true);
    fetchMock.mockImplementationOnce(async () => {
      throw new TypeError('connection refused');
    });
    const offline = await failure(fetchVerified(base, entry, () => undefined));
    expect(offline.failure).toBe('network');
    expect(offline.detail).toMatch(/connection refused/);
    expect(offline.retryable).toBe(true);
  });

  test('a corrupted cache entry is dropped and downloaded again', async () => {
    await fetchVerified(base, entry, () => undefined);
    const [key] = cache.entries.keys();
    cache.entries.set(key, new ArrayBuffer(entry.bytes));
    const again = await fetchVerified(base, entry, () => undefined);
    expect(again.fromCache).toBe(false);
    expect(new Uint8Array(again.bytes)).toEqual(bytes);
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });
});
