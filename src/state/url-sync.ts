/**
 * The URL as a projection of the store's experiment (like LIT's url_service): a store subscription
 * writes the link with history.replaceState as the user works; the page's start reads it back.
 * Only the experiment and the backend choice (?backend=) live in the query; the backend is store
 * state like the experiment (the switch beside the badge sets it), read from the link at start.
 */
import { experimentProblems } from '../core/experiment/experiment';
import { encodeExperiment } from '../core/experiment/url-codec';
import { FOLDER_SOURCE_KEY } from './folder-link';
import { experimentOf } from './experiment-state';
import type { LabState, LabStore } from './store';

/**
 * The query (with "?") for the state's experiment, its backend choice (?backend=, left out for
 * auto) and where a brought model was read from; null when there is nothing valid to write yet.
 */
export function queryFor(state: LabState): string | null {
  if (!state.manifest || !state.experimentReady) return null;
  const experiment = experimentOf(state);
  if (!experiment || experimentProblems(experiment, state.manifest).length > 0) return null;
  const kept = new URLSearchParams();
  if (state.backendPreference !== 'auto') kept.set('backend', state.backendPreference);
  // A model read from a URL travels with the link; opening it asks before fetching (folder-link.ts).
  const source = state.manifest.latent?.source;
  if (source?.kind === 'url') kept.set(FOLDER_SOURCE_KEY, source.baseUrl);
  const prefix = kept.toString();
  return `?${prefix ? `${prefix}&` : ''}${encodeExperiment(experiment, state.manifest)}`;
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
    const next = queryFor(store.getState());
    if (next !== null && next !== current) target.write(next);
  };
  const unsubscribe = store.subscribe((s, prev) => {
    const changed =
      s.experimentReady !== prev.experimentReady ||
      s.backendPreference !== prev.backendPreference ||
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
