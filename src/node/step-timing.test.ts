/**
 * The backend measurement on real sessions: one guided UNet step of the fixture model timed through
 * onnxruntime-node and through onnxruntime-web's WebAssembly build, and the faster kept by the rule
 * the browser's loader uses (WebGPU's place is taken here by the native runtime: no GPU in Node).
 */
import { expect, test } from 'vitest';
import { timeUNetStep } from '../core/step-timing';
import { type BackendChoice, fasterBackend } from '../gpu/backend';
import { loadNodeModel } from './runner';

const DIR = 'public/models/fixture-random';

test('times one step on two real runtimes and keeps the faster', async () => {
  const [native, wasm] = await Promise.all([
    loadNodeModel(DIR, { backend: 'node', threads: 1 }),
    loadNodeModel(DIR, { backend: 'wasm', threads: 1 }),
  ]);
  const now = () => performance.now();
  const a = await timeUNetStep(native.runner, native.manifest, { now });
  const b = await timeUNetStep(wasm.runner, wasm.manifest, { now });
  for (const t of [a, b]) {
    expect(t.ms).toBeGreaterThan(0);
    expect(t.ms).toBeLessThan(5000);
    expect(t.runs).toBeGreaterThanOrEqual(1);
    expect(t.runs).toBeLessThanOrEqual(3);
  }
  const gpu: BackendChoice = { backend: 'webgpu', reason: '', unet: 'int8', threads: 1, adapter: 'native stand-in' };
  const cpu: BackendChoice = { backend: 'wasm', reason: '', unet: 'int8', threads: 1 };
  const kept = fasterBackend(gpu, cpu, { webgpuMs: a.ms, wasmMs: b.ms }, { crossOriginIsolated: true });
  expect(kept.backend).toBe(a.ms <= b.ms ? 'webgpu' : 'wasm');
  console.info(`one fixture step: onnxruntime-node ${a.ms.toFixed(2)} ms, onnxruntime-web wasm ${b.ms.toFixed(2)} ms`);
});
