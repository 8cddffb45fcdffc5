/**
 * The URL as a projection of the store's experiment (like LIT's url_service): a store subscription
 * writes the link with history.replaceState as the user works; the page's start reads it back.
 * Only the experiment and the device preference (?backend=) live in the query.
 */
import { EXPERIMENT_FIELDS, SCALAR_NAMES, experimentProblems } from '../core/experiment/experiment';
import { encodeExperiment } from '../core/experiment/url-codec';
import { FOLDER_SOURCE_KEY } from './folder-link';
import { experimentOf } from './experiment-state';
import type { LabState, LabStore } from './store';

/** Query keys that are not part of the experiment but are worth keeping in a shared link. */
const KEPT_KEYS = ['backend'];
const EXPERIMENT_KEYS = new Set(['v', 'mid', 'mv', ...SCALAR_NAMES.map((n) => EXPERIMENT_FIELDS[n].key)]);

/** Whether a query names an experiment at all (a bare page address does not). */
export function linkHasExperiment(query: string): boolean {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  for (const key of params.keys()) if (EXPERIMENT_KEYS.has(key) || key.startsWith('x.')) return true;
  return false;
}

/** The query (with "?") for the state's experiment, keeping ?backend= from the current query; null when there is nothing valid to write yet. */
export function queryFor(state: LabState, currentQuery: string): string | null {
  if (!state.manifest || !state.experimentReady) return null;
  const experiment = experimentOf(state);
  if (!experiment || experimentProblems(experiment, state.manifest).length > 0) return null;
  const current = new URLSearchParams(currentQuery.startsWith('?') ? currentQuery.slice(1) : currentQuery);
  const kept = new URLSearchParams();
  for (const key of KEPT_KEYS) {
    const value = current.get(key);
    if (value !== null) kept.set(key, value);
  }
  // A model read from a URL travels with the link; opening it asks before fetching (folder-link.ts).
  const source = state.manifest.latent?.source;
  if (source?.kind === 'url') kept.set(FOLDER_SOURCE_KEY, source.baseUrl);
  const prefix = kept.toString();
  const body = encodeExperiment(experiment, state.manifest);
  return `?${prefix ? `${prefix}&` : ''}${body}`;
}

export interface UrlTarget {
  /** the current query, with "?" (location.search) */
  read(): string;
  /** replace the query without a navigation (history.replaceState) */
  write(query: string): void;
}

/**
 * Keep the URL in step with the store. Writes are debounced: browsers throttle replaceState, and
 * typing a prompt would otherwise call it on every key. Returns the unsubscribe function.
 */
export function startUrlSync(store: LabStore, target: UrlTarget, debounceMs = 120): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    timer = null;
    const current = target.read();
    const next = queryFor(store.getState(), current);
    if (next !== null && next !== current) target.write(next);
  };
  const unsubscribe = store.subscribe((s, prev) => {
    const changed =
      s.experimentReady !== prev.experimentReady ||
      s.manifest !== prev.manifest ||
      s.prompt !== prev.prompt ||
      s.seed !== prev.seed ||
      s.steps !== prev.steps ||
      s.guidance !== prev.guidance ||
      s.masks !== prev.masks;
    if (!changed) return;
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(flush, debounceMs);
  });
  return () => {
    if (timer !== null) clearTimeout(timer);
    unsubscribe();
  };
}
