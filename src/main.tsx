/**
 * Entry point: builds the store and the two worker clients (inference, analysis), wires their
 * events into the store and the workers to each other (a direct channel, again after either one
 * restarts), keeps the URL in step with the experiment, and renders. The page's link
 * names its model (peekModel) before any manifest is loaded; it is decoded once the model is ready.
 * Stray errors anywhere become notices instead of a silent console line.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { peekModel } from './core/experiment/url-codec';
import { parseBackendPreference } from './gpu/backend';
import { fetchVerified } from './gpu/download';
import { browserPromptSetStorage } from './state/prompt-set-storage';
import { batchSteps, nextFrameOr } from './state/step-batching';
import { createLabStore, type LabStore } from './state/store';
import { startUrlSync } from './state/url-sync';
import { App } from './ui/App';
import { StoreProvider } from './ui/StoreContext';
import { AnalysisClient } from './workers/analysis-client';
import { InferenceClient } from './workers/client';
import { type WorkerLink, workerLink } from './workers/link';
import { watchdogOptionsOf } from './workers/worker-client';
import './ui/views/views.css';
import './ui/styles.css';

function createLab(): LabStore {
  const params = new URLSearchParams(location.search);
  // The client's callbacks need the store and the store's send needs the client: bind late.
  let client: InferenceClient | null = null;
  let analysis: AnalysisClient | null = null;
  const store = createLabStore({
    send: (request) => client?.send(request),
    analyze: (request) => analysis?.send(request),
    fetchJson: async (url) => {
      const response = await fetch(url, { cache: 'no-cache' });
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return response.json();
    },
    fetchModelJson: async (modelUrl, entry) =>
      JSON.parse(new TextDecoder().decode((await fetchVerified(modelUrl, entry, () => undefined)).bytes)),
    pageUrl: location.href,
    backendPreference: parseBackendPreference(params.get('backend')),
    measureSoftwareGpu: params.get('measure-software-gpu') === '1',
    requestedModel: peekModel(location.search)?.id ?? params.get('model'),
    initialLink: location.search,
    initialLinkRuns: true,
    reloadPage: () => location.reload(),
    promptSetStorage: browserPromptSetStorage() ?? undefined,
  });
  let link: WorkerLink | null = null;
  const watchdog = watchdogOptionsOf(params);
  client = new InferenceClient(
    {
      onEvent: batchSteps((event) => store.getState().applyEvent(event), nextFrameOr(100)),
      onCrash: (message, reloading) => store.getState().workerCrashed(message, reloading),
      onRestarted: () => link?.link(),
    },
    undefined,
    watchdog,
  );
  analysis = new AnalysisClient(
    {
      onEvent: (event) => store.getState().applyAnalysis(event),
      onCrash: (message, restarted) => {
        store.getState().analysisCrashed(message, restarted);
        if (!restarted) link?.unlink();
      },
      onRestarted: () => link?.link(),
    },
    undefined,
    watchdog,
  );
  link = workerLink(client, analysis);
  link.link();
  startUrlSync(store, {
    read: () => location.search,
    write: (query) => history.replaceState(history.state, '', `${location.pathname}${query}${location.hash}`),
  });
  return store;
}

const store = createLab();
const describe = (reason: unknown) => (reason instanceof Error ? reason.message : String(reason));
const unexpected = (detail: string) =>
  store
    .getState()
    .notify('error', 'Something went wrong in the lab. Reloading the page usually helps.', 'reload-page', {
      detail,
    });
window.addEventListener('error', (e) => unexpected(e.message));
window.addEventListener('unhandledrejection', (e) => unexpected(describe(e.reason)));

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');
createRoot(root).render(
  <StrictMode>
    <StoreProvider store={store}>
      <App />
    </StoreProvider>
  </StrictMode>,
);
void store.getState().init();
void store.getState().restorePromptSets();
