/**
 * Model file download: streamed with progress, checked against the manifest's byte count and
 * sha256, and written to the Cache API only after the whole file verified — so the cache never
 * holds a half-written model and a reload reads it back instead of downloading again.
 */

export interface FileEntry {
  path: string;
  bytes: number;
  sha256: string;
}

export type DownloadFailure = 'http' | 'network' | 'truncated' | 'oversize' | 'checksum';

/**
 * A failed download. `message` is one sentence for the person at the screen; `detail` holds what
 * a developer needs (file, byte counts, hashes, HTTP status) and is shown behind a disclosure.
 */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly detail: string,
    readonly file: string,
    readonly failure: DownloadFailure,
    /** the HTTP status, for failure 'http' */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DownloadError';
  }

  /**
   * Whether asking again can help: a dropped connection, a cut-off body or a server that is
   * busy or failing (5xx, 408, 429) can; a missing file (other 4xx) cannot. A body that is the
   * wrong size or fails its checksum may have been damaged on the way, so the loader asks once
   * more by itself (load-model.ts); offered to the user it would only repeat the same answer.
   */
  get retryable(): boolean {
    if (this.failure === 'network' || this.failure === 'truncated') return true;
    if (this.failure === 'http')
      return this.status === undefined || this.status >= 500 || this.status === 408 || this.status === 429;
    return false;
  }
}

const DAMAGED =
  'A model file on the server is damaged or belongs to another version of the model, so the model cannot be opened. ' +
  'Whoever publishes this lab needs to upload the model again.';

export interface DownloadProgress {
  file: string;
  loaded: number;
  total: number;
  fromCache: boolean;
}

export interface FetchedFile {
  bytes: ArrayBuffer;
  fromCache: boolean;
}

/** Bump when the cache layout changes; old caches are simply ignored. */
export const MODEL_CACHE = 'memlab-models-v1';

export async function sha256Hex(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The cache key carries the hash, so a new model version never matches an old entry. */
export function cacheKey(url: string, sha256: string): string {
  const key = new URL(url);
  key.searchParams.set('sha256', sha256);
  return key.href;
}

const fmt = (n: number) => n.toLocaleString('en-US');

async function openCache(): Promise<Cache | null> {
  // The Cache API is missing on insecure origins; the lab still works, it just downloads each time.
  if (typeof caches === 'undefined') return null;
  try {
    return await caches.open(MODEL_CACHE);
  } catch {
    return null;
  }
}

async function readCached(cache: Cache, key: string, entry: FileEntry): Promise<ArrayBuffer | null> {
  const hit = await cache.match(key);
  if (!hit) return null;
  const bytes = await hit.arrayBuffer();
  // Re-verify: storage can be evicted or corrupted under us, and a bad model must never load.
  if (bytes.byteLength === entry.bytes && (await sha256Hex(bytes)) === entry.sha256) return bytes;
  await cache.delete(key);
  return null;
}

/** Drop older versions of the same file (same URL, other hash) so the cache does not grow. */
async function pruneOldVersions(cache: Cache, url: string, keep: string): Promise<void> {
  const path = new URL(url).pathname;
  for (const req of await cache.keys()) {
    if (new URL(req.url).pathname === path && req.url !== keep) await cache.delete(req);
  }
}

async function streamBody(
  response: Response,
  entry: FileEntry,
  onProgress: (p: DownloadProgress) => void,
): Promise<ArrayBuffer> {
  const out = new Uint8Array(entry.bytes);
  let loaded = 0;
  const reader = response.body?.getReader();
  if (!reader) {
    const whole = new Uint8Array(await response.arrayBuffer());
    if (whole.byteLength > entry.bytes) throw oversize(entry);
    out.set(whole);
    loaded = whole.byteLength;
  } else {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        throw new DownloadError(
          'The model download was interrupted. Check the internet connection and try again.',
          `${entry.path}: the download was interrupted after ${fmt(loaded)} of ${fmt(entry.bytes)} bytes ` +
            `(${err instanceof Error ? err.message : String(err)}).`,
          entry.path,
          'network',
        );
      }
      if (chunk.done) break;
      if (loaded + chunk.value.byteLength > entry.bytes) {
        await reader.cancel();
        throw oversize(entry);
      }
      out.set(chunk.value, loaded);
      loaded += chunk.value.byteLength;
      onProgress({ file: entry.path, loaded, total: entry.bytes, fromCache: false });
    }
  }
  if (loaded !== entry.bytes) {
    throw new DownloadError(
      'The model download stopped before the end. Check the internet connection and try again.',
      `${entry.path}: the download stopped early — received ${fmt(loaded)} of ${fmt(entry.bytes)} bytes.`,
      entry.path,
      'truncated',
    );
  }
  return out.buffer;
}

function oversize(entry: FileEntry): DownloadError {
  return new DownloadError(
    DAMAGED,
    `${entry.path}: the server sent more than the ${fmt(entry.bytes)} bytes the manifest lists; ` +
      'the file does not belong to this model version.',
    entry.path,
    'oversize',
  );
}

/** An HTTP error answer, told by what it means for the user: missing (4xx) or a server in trouble. */
export function httpError(url: string, file: string, status: number): DownloadError {
  const detail = `${url}: the server answered HTTP ${status}.`;
  const error = new DownloadError('', detail, file, 'http', status);
  const message = error.retryable
    ? 'The server could not send the model files just now. Try again in a moment.'
    : 'The model files are not on the server, so this model cannot be opened. Whoever publishes this lab needs to upload them.';
  return new DownloadError(message, detail, file, 'http', status);
}

/**
 * Get one model file, from the cache when a verified copy is there, else from the network.
 * Throws DownloadError: a sentence for the user, the technical detail beside it.
 */
export async function fetchVerified(
  baseUrl: string,
  entry: FileEntry,
  onProgress: (p: DownloadProgress) => void,
): Promise<FetchedFile> {
  const url = new URL(entry.path, baseUrl).href;
  const key = cacheKey(url, entry.sha256);
  const cache = await openCache();
  if (cache) {
    const cached = await readCached(cache, key, entry);
    if (cached) {
      onProgress({ file: entry.path, loaded: entry.bytes, total: entry.bytes, fromCache: true });
      return { bytes: cached, fromCache: true };
    }
  }

  let response: Response;
  try {
    // no-store: a retry must really go to the network, not replay a bad HTTP-cached copy.
    response = await fetch(url, { cache: 'no-store' });
  } catch (err) {
    throw new DownloadError(
      'The model could not be downloaded: the server did not answer. Check the internet connection and try again.',
      `${url}: could not reach the server (${err instanceof Error ? err.message : String(err)}).`,
      entry.path,
      'network',
    );
  }
  if (!response.ok) throw httpError(url, entry.path, response.status);
  onProgress({ file: entry.path, loaded: 0, total: entry.bytes, fromCache: false });
  const bytes = await streamBody(response, entry, onProgress);
  const hash = await sha256Hex(bytes);
  if (hash !== entry.sha256) {
    throw new DownloadError(
      DAMAGED,
      `${entry.path}: the file is corrupt — its sha256 is ${hash}, the manifest expects ${entry.sha256}.`,
      entry.path,
      'checksum',
    );
  }
  if (cache) {
    try {
      // Response copies the bytes, so the buffer stays ours to hand to the session.
      await cache.put(key, new Response(bytes, { headers: { 'Content-Type': 'application/octet-stream' } }));
      await pruneOldVersions(cache, url, key);
    } catch {
      // A full quota only costs a re-download next time; the verified bytes are still usable now.
    }
  }
  return { bytes, fromCache: false };
}
