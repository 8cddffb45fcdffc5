/**
 * Per-experiment result cache. A key is the model (id@version, and the weights' hash) plus the computation's name and its
 * parameters, canonicalised (object keys sorted) and hashed, so the same experiment asked twice
 * is computed once. Values must be JSON-serialisable (plain numbers, strings, arrays, objects):
 * the browser worker can keep them in IndexedDB or memory, Node in files (src/node/eval.ts).
 */

export interface ExperimentCache {
  get(key: string): Promise<unknown | undefined>;
  set(key: string, value: unknown): Promise<void>;
}

/** JSON with object keys sorted at every level: equal parameters give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      );
    }
    return v;
  });
}

/** 64-bit FNV-1a of a string's UTF-16 code units, as 16 hex digits (a key, not a security hash). */
export function fnv1a64(text: string): string {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (let i = 0; i < text.length; i++) {
    h ^= BigInt(text.charCodeAt(i));
    h = (h * prime) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

/** What a key calls the model: the fields of a manifest it reads. */
export interface CachedModel {
  id: string;
  version: string;
  files?: { unet?: { int8?: { sha256: string } } };
}

/**
 * "<computation>/<model id>@<version>[#<UNet hash>]/<hash of parameters>". The organism's version
 * names its training step, not its weights: a variant made again by a revised recipe keeps it, so
 * the UNet file's hash is in the key (a latent model's version is that hash already).
 */
export function experimentKey(model: CachedModel, computation: string, parameters: unknown): string {
  const weights = model.files?.unet?.int8?.sha256;
  const tag = `${model.id}@${model.version}${weights ? `#${weights.slice(0, 12)}` : ''}`;
  return `${computation}/${tag}/${fnv1a64(canonicalJson(parameters))}`;
}

/** The cached value for a key, or the computed one (stored before it is returned). */
export async function cached<T>(
  cache: ExperimentCache | undefined,
  key: string,
  compute: () => Promise<T>,
): Promise<T> {
  if (cache) {
    const hit = await cache.get(key);
    if (hit !== undefined) return hit as T;
  }
  const value = await compute();
  if (cache) await cache.set(key, value);
  return value;
}

/** A cache in memory (the worker's default; tests). Stores JSON text so callers never share mutable results. */
export function memoryCache(): ExperimentCache & { size(): number } {
  const store = new Map<string, string>();
  return {
    async get(key) {
      const text = store.get(key);
      return text === undefined ? undefined : JSON.parse(text);
    },
    async set(key, value) {
      store.set(key, JSON.stringify(value));
    },
    size: () => store.size,
  };
}
