/**
 * Entry point: builds the store and the inference worker client, wires worker events into the
 * store, and renders. Stray errors anywhere become notices instead of a silent console line.
 */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { parseBackendPreference } from './gpu/backend';
import { createLabStore, type LabStore } from './state/store';
import { App } from './ui/App';
import { StoreProvider } from './ui/StoreContext';
import { InferenceClient } from './workers/client';
import './ui/styles.css';

function createLab(): LabStore {
  const params = new URLSearchParams(location.search);
  // The client's callbacks need the store and the store's send needs the client: bind late.
  let client: InferenceClient | null = null;
  const store = createLabStore({
    send: (request) => client?.send(request),
    fetchJson: async (url) => {
      const response = await fetch(url, { cache: 'no-cache' });
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      return response.json();
    },
    pageUrl: location.href,
    backendPreference: parseBackendPreference(params.get('backend')),
    requestedModel: params.get('model'),
    reloadPage: () => location.reload(),
  });
  client = new InferenceClient({
    onEvent: (event) => store.getState().applyEvent(event),
    onCrash: (message, reloading) => store.getState().workerCrashed(message, reloading),
  });
  return store;
}

const store = createLab();
const describe = (reason: unknown) => (reason instanceof Error ? reason.message : String(reason));
window.addEventListener('error', (e) => store.getState().notify('error', `Unexpected error: ${e.message}`));
window.addEventListener('unhandledrejection', (e) =>
  store.getState().notify('error', `Unexpected error: ${describe(e.reason)}`),
);

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
