/**
 * A model folder the user brings: files picked from disk (a directory picker or a dropped folder)
 * or a base URL that serves the folder (for example a hub "resolve/main" address). Both read the
 * same relative paths ("unet/model.onnx"), so loading code never asks where the bytes live.
 *
 * Files from disk are read straight from the File objects (nothing is copied until a path is
 * asked for); files from a URL stream with progress and go through the Cache API keyed by URL, so
 * a second visit reads gigabytes from disk instead of the network.
 */

export type FolderProgress = (loaded: number, total: number) => void;

export interface ModelFolder {
  readonly kind: 'disk' | 'url';
  /** what to show the user: the folder name, or the base URL */
  readonly label: string;
  /** the base URL (ending in '/'), for a URL folder */
  readonly baseUrl?: string;
  /** whether the folder has this file (a URL folder asks the server) */
  has(path: string): Promise<boolean>;
  /** the file's size in bytes, or null when the folder cannot say before reading */
  size(path: string): Promise<number | null>;
  read(path: string, onProgress?: FolderProgress): Promise<Uint8Array>;
  readText(path: string): Promise<string>;
}

/** A file the folder could not give. `message` is for anyone; `detail` is the technical cause. */
export class FolderError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly detail: string,
    /** 'missing': the file is not there; 'network': reaching it failed, retrying may help */
    readonly reason: 'missing' | 'network' | 'read',
  ) {
    super(message);
    this.name = 'FolderError';
  }
}

function normalise(path: string): string {
  return path.replace(/\\/g, '/').replace(/^\.?\//, '');
}

/**
 * The picked files under their path inside the chosen folder. A directory picker (and a dropped
 * folder) names every file "<folder>/<path>"; the common first segment is dropped so the paths
 * read as the diffusers layout names them, whichever folder the user picked.
 */
export function relativePaths(files: readonly { name: string; webkitRelativePath?: string }[]): string[] {
  const raw = files.map((f) => normalise(f.webkitRelativePath || f.name));
  const firsts = new Set(raw.map((p) => (p.includes('/') ? p.split('/')[0] : '')));
  const [only] = [...firsts];
  const strip = firsts.size === 1 && only !== '' && raw.every((p) => p.includes('/'));
  return raw.map((p) => (strip ? p.slice(only.length + 1) : p));
}

export function folderFromFiles(files: readonly File[], label?: string): ModelFolder {
  const paths = relativePaths(files);
  const byPath = new Map<string, File>();
  paths.forEach((p, i) => {
    byPath.set(p, files[i]);
  });
  const first = files[0]?.webkitRelativePath?.split('/')[0];
  const get = (path: string): File => {
    const file = byPath.get(normalise(path));
    if (!file) {
      throw new FolderError(
        `The folder has no file ${path}.`,
        path,
        `not among the ${byPath.size} files picked`,
        'missing',
      );
    }
    return file;
  };
  return {
    kind: 'disk',
    label: label ?? (first || 'the chosen folder'),
    has: async (path) => byPath.has(normalise(path)),
    size: async (path) => byPath.get(normalise(path))?.size ?? null,
    async read(path, onProgress) {
      const file = get(path);
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        onProgress?.(bytes.byteLength, bytes.byteLength);
        return bytes;
      } catch (err) {
        throw new FolderError(`The file ${path} could not be read from disk.`, path, String(err), 'read');
      }
    },
    async readText(path) {
      return new TextDecoder().decode(await this.read(path));
    },
  };
}

/** Drops the query and fragment and makes sure the base ends in '/', so paths resolve below it. */
export function normaliseBaseUrl(input: string): string {
  const url = new URL(input.trim());
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError('only http and https addresses');
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url.href;
}

/** Bump when the cache layout changes; old caches are simply ignored. */
export const FOLDER_CACHE = 'memlab-folders-v1';

async function openCache(): Promise<Cache | null> {
  if (typeof caches === 'undefined') return null;
  try {
    return await caches.open(FOLDER_CACHE);
  } catch {
    return null;
  }
}

async function readStream(response: Response, total: number | null, onProgress?: FolderProgress): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  // One buffer of the announced size when the server says it; chunks otherwise.
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    onProgress?.(loaded, total ?? loaded);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

export function folderFromUrl(base: string, fetchImpl: typeof fetch = fetch): ModelFolder {
  const baseUrl = normaliseBaseUrl(base);
  const urlOf = (path: string) => new URL(normalise(path), baseUrl).href;
  const host = new URL(baseUrl).host;
  const sizes = new Map<string, number | null>();

  async function get(path: string, method: 'GET' | 'HEAD'): Promise<Response> {
    try {
      return await fetchImpl(urlOf(path), { method, cache: 'no-cache' });
    } catch (err) {
      throw new FolderError(
        `Could not reach ${host} for ${path}. The server may be down, or it may not allow other sites to read its files (CORS).`,
        path,
        String(err),
        'network',
      );
    }
  }

  return {
    kind: 'url',
    label: baseUrl,
    baseUrl,
    async has(path) {
      const r = await get(path, 'HEAD');
      if (r.ok) sizes.set(path, Number(r.headers.get('content-length')) || null);
      return r.ok;
    },
    async size(path) {
      if (!sizes.has(path)) await this.has(path);
      return sizes.get(path) ?? null;
    },
    async read(path, onProgress) {
      const url = urlOf(path);
      const cache = await openCache();
      const hit = await cache?.match(url);
      if (hit) {
        const bytes = new Uint8Array(await hit.arrayBuffer());
        onProgress?.(bytes.byteLength, bytes.byteLength);
        return bytes;
      }
      const r = await get(path, 'GET');
      if (r.status === 404) {
        throw new FolderError(`The folder at ${host} has no file ${path}.`, path, `HTTP 404 for ${url}`, 'missing');
      }
      if (!r.ok) {
        throw new FolderError(
          `${host} refused to send ${path} (HTTP ${r.status}).`,
          path,
          `HTTP ${r.status} ${r.statusText} for ${url}`,
          'network',
        );
      }
      const total = Number(r.headers.get('content-length')) || null;
      let bytes: Uint8Array;
      try {
        bytes = await readStream(r, total, onProgress);
      } catch (err) {
        throw new FolderError(`The download of ${path} from ${host} broke off.`, path, String(err), 'network');
      }
      if (total !== null && bytes.byteLength !== total && !r.headers.get('content-encoding')) {
        throw new FolderError(
          `The download of ${path} from ${host} stopped early.`,
          path,
          `${bytes.byteLength} of ${total} bytes`,
          'network',
        );
      }
      // Only whole files enter the cache; a failed put just means downloading again next time.
      await cache?.put(url, new Response(bytes as Uint8Array<ArrayBuffer>)).catch(() => undefined);
      return bytes;
    },
    async readText(path) {
      return new TextDecoder().decode(await this.read(path));
    },
  };
}
