/**
 * bench.html: loads the index's default model in the real inference worker (backend from
 * ?backend=, WASM by default) and asks it for the pipeline-vs-bare bench (src/workers/bench.ts).
 * The result lands in #result as JSON and body[data-done]; bench/browser.ts reads it.
 */
import { parseModelIndex, pickModel } from '../src/state/model-index';
import { parseBackendPreference } from '../src/gpu/backend';
import { InferenceClient } from '../src/workers/client';
import type { WorkerEvent } from '../src/workers/protocol';

const out = document.getElementById('result')!;
const params = new URLSearchParams(location.search);
const steps = Number(params.get('steps') ?? 25);
const generations = Number(params.get('generations') ?? 4);

function finish(value: unknown, ok: boolean): void {
  out.textContent = JSON.stringify(value, null, 1);
  document.body.dataset.done = ok ? 'ok' : 'error';
}

async function main(): Promise<void> {
  const parsed = parseModelIndex(await (await fetch('models/index.json', { cache: 'no-cache' })).json());
  if (!parsed.ok) throw new Error(parsed.problem);
  const model = pickModel(parsed.index, params.get('model'));
  const modelUrl = new URL(`models/${model.path.replace(/\/?$/, '/')}`, location.href).href;
  const client = new InferenceClient({
    onEvent: (event: WorkerEvent) => {
      if (event.type === 'ready') {
        out.textContent = `loaded ${model.id} on ${event.backend.backend}; timing ${generations} generations of ${steps} steps…`;
        client.send({ type: 'bench', id: 2, steps, generations });
      } else if (event.type === 'bench') {
        finish({ model: model.id, ...event.result }, true);
        client.dispose();
      } else if (event.type === 'error') {
        finish({ error: event.message }, false);
      }
    },
    onCrash: (message) => finish({ error: message }, false),
  });
  client.send({
    type: 'load',
    id: 1,
    modelUrl,
    backend: params.has('backend') ? parseBackendPreference(params.get('backend')) : 'wasm',
  });
}

main().catch((err) => finish({ error: err instanceof Error ? err.message : String(err) }, false));
