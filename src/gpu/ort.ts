/**
 * Loads the onnxruntime-web build that matches the chosen backend and configures it once.
 * Two builds because the WebGPU one ('onnxruntime-web/webgpu', the native WebGPU EP) needs the
 * larger asyncify runtime, and a CPU-only user should not download it.
 */
import type * as OrtModule from 'onnxruntime-web';
import type { BackendChoice } from './backend';

export type Ort = typeof OrtModule;

export async function loadOrt(choice: BackendChoice): Promise<Ort> {
  const ort: Ort =
    choice.backend === 'webgpu' ? await import('onnxruntime-web/webgpu') : await import('onnxruntime-web/wasm');
  // Set explicitly: ORT's default guesses from hardwareConcurrency and silently drops to one
  // thread when the page is not cross-origin isolated.
  ort.env.wasm.numThreads = choice.threads;
  // We already run inside a worker; ORT's own proxy worker would only add a hop.
  ort.env.wasm.proxy = false;
  // ORT logs warnings through console.error; keep the console for real problems.
  ort.env.logLevel = 'error';
  return ort;
}
