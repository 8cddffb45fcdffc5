/**
 * bench.html: loads the index's default model in the real inference worker (backend from
 * ?backend=, WASM by default). By default it asks the worker for the pipeline-vs-bare bench
 * (src/workers/bench.ts); the result lands in #result as JSON and body[data-done]. With
 * ?mode=bare it waits instead (body[data-ready]) and offers `window.benchBare(steps, batch)`, a
 * bare session.run loop on demand, so bench/browser.ts can time the UNet alone between clicks in
 * the lab, side by side under the same machine load.
 */
import { parseModelIndex, pickModel } from '../src/state/model-index';
import { parseBackendPreference } from '../src/gpu/backend';
import type { BareBench } from '../src/workers/bench';
import { InferenceClient } from '../src/workers/client';
import type { WorkerEvent } from '../src/workers/protocol';

declare global {
  interface Window {
    benchBare?: (steps: number, batch: number) => Promise<BareBench>;
  }
}

const out = document.getElementById('result')!;
const params = new URLSearchParams(location.search);
const steps = Number(params.get('steps') ?? 25);
const generations = Number(params.get('generations') ?? 4);
const bareMode = params.get('mode') === 'bare';

function finish(value: unknown, ok: boolean): void {
  out.textContent = JSON.stringify(value, null, 1);
  document.body.dataset.done = ok ? 'ok' : 'error';
}

async function main(): Promise<void> {
  const parsed = parseModelIndex(await (await fetch('models/index.json', { cache: 'no-cache' })).json());
  if (!parsed.ok) throw new Error(parsed.problem);
  const model = pickModel(parsed.index, params.get('model'));
  const modelUrl = new URL(`models/${model.path.replace(/\/?$/, '/')}`, location.href).href;
  let nextId = 2;
  const waiting = new Map<number, { resolve(r: BareBench): void; reject(e: Error): void }>();
  const client = new InferenceClient({
    onEvent: (event: WorkerEvent) => {
      if (event.type === 'ready') {
        if (bareMode) {
          window.benchBare = (n, batch) =>
            new Promise((resolve, reject) => {
              const id = nextId++;
              waiting.set(id, { resolve, reject });
              client.send({ type: 'bench', id, steps: n, generations: 0, bareBatch: batch });
            });
          out.textContent = `loaded ${model.id} on ${event.backend.backend}; waiting for bare-loop requests`;
          document.body.dataset.ready = 'true';
          return;
        }
        out.textContent = `loaded ${model.id} on ${event.backend.backend}; timing ${generations} generations of ${steps} steps…`;
        client.send({ type: 'bench', id: 2, steps, generations });
      } else if (event.type === 'bench') {
        const pending = waiting.get(event.id);
        if (pending) {
          waiting.delete(event.id);
          if (event.result.kind === 'bare') pending.resolve(event.result);
          else pending.reject(new Error('expected a bare-loop result'));
          return;
        }
        finish({ model: model.id, ...event.result }, true);
        client.dispose();
      } else if (event.type === 'error') {
        const pending = waiting.get(event.id);
        if (pending) {
          waiting.delete(event.id);
          pending.reject(new Error(event.message));
          return;
        }
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
