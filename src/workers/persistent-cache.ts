/**
 * The science cache of the browser worker: memory in front of IndexedDB (idb-keyval), so a study
 * that took minutes is still answered from the cache after a reload or in another tab. Keys name
 * the model id@version (core/science/cache.ts experimentKey), so a new model version never reads
 * an old result. Values are JSON text, as in memoryCache: what comes back is what was computed.
 * When IndexedDB is unavailable (private windows, quota, a test runner without it) the cache
 * silently stays in memory: losing persistence must never fail a job.
 */
import { createStore, get, set, type UseStore } from 'idb-keyval';
import { type ExperimentCache, memoryCache } from '../core/science';

export function persistentCache(name = 'memlab-science'): ExperimentCache {
  const memory = memoryCache();
  let store: UseStore | null = null;
  try {
    if (typeof indexedDB !== 'undefined') store = createStore(name, 'results');
  } catch {
    store = null;
  }
  return {
    async get(key) {
      const hit = await memory.get(key);
      if (hit !== undefined || !store) return hit;
      try {
        const text = await get<string>(key, store);
        if (typeof text !== 'string') return undefined;
        const value: unknown = JSON.parse(text);
        await memory.set(key, value);
        return value;
      } catch {
        return undefined;
      }
    },
    async set(key, value) {
      await memory.set(key, value);
      if (!store) return;
      try {
        await set(key, JSON.stringify(value), store);
      } catch {
        // quota or a closed database: the result stays in memory for this session
      }
    },
  };
}
