/**
 * Which onnxruntime-web execution provider to use, and why — the "why" is shown to the user, so a
 * researcher on a machine without WebGPU knows the lab fell back on purpose and what it costs.
 * The environment is passed in (not read from globals) so the decision is testable in Node.
 */

export type BackendName = 'webgpu' | 'wasm';
/** What the user (or a test, through ?backend=) asked for. */
export type BackendPreference = 'auto' | BackendName;
export type UnetVariant = 'fp16' | 'int8';

export interface BackendChoice {
  backend: BackendName;
  /** One sentence for the UI: why this backend, and any limitation that follows from it. */
  reason: string;
  unet: UnetVariant;
  /** WASM threads; WebGPU still uses the WASM runtime for the few CPU-side ops. */
  threads: number;
  adapter?: string;
}

export interface BackendEnvironment {
  gpu: GPU | undefined;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
}

/** More than 4 threads does not help a 1 M-parameter UNet and takes cores from the UI. */
const MAX_THREADS = 4;

export function wasmThreads(env: Pick<BackendEnvironment, 'crossOriginIsolated' | 'hardwareConcurrency'>): number {
  // SharedArrayBuffer (and so WASM threads) exists only on a cross-origin isolated page.
  if (!env.crossOriginIsolated) return 1;
  return Math.max(1, Math.min(MAX_THREADS, env.hardwareConcurrency || 1));
}

function threadNote(threads: number, isolated: boolean): string {
  if (!isolated) return 'single-threaded because the page is not cross-origin isolated';
  return threads === 1 ? '1 thread' : `${threads} threads`;
}

function wasmChoice(env: BackendEnvironment, why: string): BackendChoice {
  const threads = wasmThreads(env);
  return {
    backend: 'wasm',
    reason: `${why}; running on the CPU with WebAssembly (${threadNote(threads, env.crossOriginIsolated)}).`,
    unet: 'int8',
    threads,
  };
}

/**
 * A software rasteriser posing as a GPU (Chromium's SwiftShader, Mesa's llvmpipe/lavapipe, Windows'
 * WARP): WebGPU on it ran the organism about 50x slower than WebAssembly on the same cores, so
 * "auto" must not pick it. Browsers flag it as a fallback adapter; older ones only name it.
 */
export function isSoftwareAdapter(adapter: GPUAdapter): boolean {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const legacy = (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter;
  if (info?.isFallbackAdapter === true || legacy === true) return true;
  const names = [info?.vendor, info?.architecture, info?.description].join(' ');
  return /swiftshader|llvmpipe|lavapipe|softpipe|microsoft basic render|\bwarp\b/i.test(names);
}

function describeAdapter(adapter: GPUAdapter): string {
  const info = adapter.info;
  const parts = [info?.vendor, info?.architecture, info?.description].filter((p) => p && p.length > 0);
  return parts.length > 0 ? parts.join(' ') : 'unnamed adapter';
}

/**
 * Decide the backend. `hasFp16Model` says whether the manifest ships an fp16 UNet: fp16 is used only
 * when the adapter has shader-f16 (without it the native WebGPU EP fails at session creation).
 */
export async function chooseBackend(
  preference: BackendPreference,
  env: BackendEnvironment,
  hasFp16Model: boolean,
): Promise<BackendChoice> {
  if (preference === 'wasm') return wasmChoice(env, 'WebAssembly was requested');
  if (!env.gpu) {
    return wasmChoice(env, 'This browser does not expose WebGPU (navigator.gpu is missing)');
  }
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await env.gpu.requestAdapter();
  } catch (err) {
    return wasmChoice(env, `WebGPU adapter request failed (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!adapter) return wasmChoice(env, 'WebGPU is present but no GPU adapter is available');

  const name = describeAdapter(adapter);
  if (preference === 'auto' && isSoftwareAdapter(adapter)) {
    return wasmChoice(
      env,
      `The only WebGPU adapter is a software one (${name}), which is much slower than the CPU path here`,
    );
  }
  const f16 = adapter.features.has('shader-f16');
  const threads = wasmThreads(env);
  const unet: UnetVariant = f16 && hasFp16Model ? 'fp16' : 'int8';
  const precision =
    unet === 'fp16'
      ? 'fp16 model (adapter supports shader-f16)'
      : f16
        ? 'int8-weight model (this model ships no fp16 variant)'
        : 'int8-weight model (adapter lacks shader-f16)';
  const asked = preference === 'webgpu' ? 'WebGPU was requested' : 'WebGPU adapter found';
  const software = isSoftwareAdapter(adapter)
    ? ', a software adapter that runs on the CPU and is much slower than WebAssembly'
    : '';
  return { backend: 'webgpu', reason: `${asked}: ${name}${software}; ${precision}.`, unet, threads, adapter: name };
}

/** One UNet step timed on each backend, in milliseconds (core/step-timing.ts). */
export interface StepMeasurement {
  webgpuMs: number;
  wasmMs: number;
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/**
 * Auto on a GPU: keep whichever backend ran one step faster on this machine, and say so with the
 * numbers. A small model on a modest GPU can lose to the CPU (kernel launches and read-backs
 * dominate a 32x32 UNet), so a GPU is never assumed faster. A tie keeps WebGPU: it leaves the CPU
 * to the page.
 */
export function fasterBackend(
  gpu: BackendChoice,
  wasm: BackendChoice,
  measured: StepMeasurement,
  env: Pick<BackendEnvironment, 'crossOriginIsolated'>,
): BackendChoice {
  const useGpu = measured.webgpuMs <= measured.wasmMs;
  const cpu = `WebAssembly (${threadNote(wasm.threads, env.crossOriginIsolated)})`;
  const times = `one step took ${ms(measured.webgpuMs)} ms on WebGPU (${gpu.adapter ?? 'GPU'}) and ${ms(measured.wasmMs)} ms on ${cpu}`;
  const winner = useGpu ? gpu : wasm;
  return {
    ...winner,
    reason: `Measured on this machine: ${times}, so the lab runs on the faster, ${useGpu ? 'WebGPU' : 'WebAssembly'}.`,
  };
}

/** Parse the ?backend= query parameter; anything unknown means "auto". */
export function parseBackendPreference(value: string | null): BackendPreference {
  return value === 'wasm' || value === 'webgpu' ? value : 'auto';
}
