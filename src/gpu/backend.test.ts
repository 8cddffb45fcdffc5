import { describe, expect, test } from 'vitest';
import { chooseBackend, fasterBackend, parseBackendPreference, wasmThreads, type BackendEnvironment } from './backend';

function fakeGpu(
  adapter:
    | { features: string[]; vendor?: string; architecture?: string; isFallbackAdapter?: boolean }
    | null
    | 'throws',
): GPU {
  return {
    requestAdapter: async () => {
      if (adapter === 'throws') throw new Error('adapter lost');
      if (!adapter) return null;
      return {
        features: new Set(adapter.features),
        info: {
          vendor: adapter.vendor ?? 'acme',
          architecture: adapter.architecture ?? '',
          description: '',
          isFallbackAdapter: adapter.isFallbackAdapter ?? false,
        },
      };
    },
  } as unknown as GPU;
}

const env = (gpu: GPU | undefined, isolated = true): BackendEnvironment => ({
  gpu,
  crossOriginIsolated: isolated,
  hardwareConcurrency: 8,
});

describe('chooseBackend', () => {
  test('uses WASM with the reason when navigator.gpu is missing', async () => {
    const c = await chooseBackend('auto', env(undefined), true);
    expect(c.backend).toBe('wasm');
    expect(c.reason).toMatch(/does not expose WebGPU/);
    expect(c.unet).toBe('int8');
  });

  test('uses WASM when WebGPU has no adapter or the request throws', async () => {
    expect((await chooseBackend('auto', env(fakeGpu(null)), false)).reason).toMatch(/no GPU adapter/);
    expect((await chooseBackend('auto', env(fakeGpu('throws')), false)).reason).toMatch(/adapter lost/);
  });

  test('honours a forced WASM preference even with a GPU', async () => {
    const c = await chooseBackend('wasm', env(fakeGpu({ features: ['shader-f16'] })), true);
    expect(c.backend).toBe('wasm');
    expect(c.reason).toMatch(/requested/);
  });

  test('picks fp16 only with shader-f16 and an fp16 model', async () => {
    expect((await chooseBackend('auto', env(fakeGpu({ features: ['shader-f16'] })), true)).unet).toBe('fp16');
    expect((await chooseBackend('auto', env(fakeGpu({ features: ['shader-f16'] })), false)).unet).toBe('int8');
    const noF16 = await chooseBackend('auto', env(fakeGpu({ features: [] })), true);
    expect(noF16.backend).toBe('webgpu');
    expect(noF16.unet).toBe('int8');
    expect(noF16.reason).toMatch(/lacks shader-f16/);
  });
});

describe('software adapters', () => {
  // What Chromium's SwiftShader reports (measured in Debian's Chromium 156, headless).
  const swiftShader = { features: [], vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true };

  test('auto prefers WebAssembly over a fallback adapter and says why', async () => {
    const c = await chooseBackend('auto', env(fakeGpu(swiftShader)), true);
    expect(c.backend).toBe('wasm');
    expect(c.reason).toMatch(/software one \(google swiftshader\)/);
  });

  test('a software adapter is recognised by name when the fallback flag is missing', async () => {
    const llvmpipe = { features: [], vendor: 'mesa', architecture: 'llvmpipe' };
    expect((await chooseBackend('auto', env(fakeGpu(llvmpipe)), false)).backend).toBe('wasm');
  });

  test('an explicit WebGPU request still uses the software adapter', async () => {
    const c = await chooseBackend('webgpu', env(fakeGpu(swiftShader)), false);
    expect(c.backend).toBe('webgpu');
    expect(c.reason).toMatch(/software adapter .* much slower than WebAssembly/);
  });

  test('a hardware adapter is kept', async () => {
    const c = await chooseBackend(
      'auto',
      env(fakeGpu({ features: [], vendor: 'nvidia', architecture: 'hopper' })),
      false,
    );
    expect(c.backend).toBe('webgpu');
  });
});

describe('wasmThreads', () => {
  test('is 1 without cross-origin isolation and capped at 4 with it', () => {
    expect(wasmThreads({ crossOriginIsolated: false, hardwareConcurrency: 16 })).toBe(1);
    expect(wasmThreads({ crossOriginIsolated: true, hardwareConcurrency: 16 })).toBe(4);
    expect(wasmThreads({ crossOriginIsolated: true, hardwareConcurrency: 2 })).toBe(2);
  });

  test('the single-thread limitation is spelled out in the reason', async () => {
    const c = await chooseBackend('wasm', env(undefined, false), false);
    expect(c.threads).toBe(1);
    expect(c.reason).toMatch(/not cross-origin isolated/);
  });
});

test('parseBackendPreference accepts only known values', () => {
  expect(parseBackendPreference('wasm')).toBe('wasm');
  expect(parseBackendPreference('webgpu')).toBe('webgpu');
  expect(parseBackendPreference('cuda')).toBe('auto');
  expect(parseBackendPreference(null)).toBe('auto');
});

describe('fasterBackend', () => {
  const gpuEnv = env(fakeGpu({ features: [], vendor: 'nvidia' }));

  test('keeps the backend whose step was faster and says so with both times', async () => {
    const gpu = await chooseBackend('auto', gpuEnv, false);
    const wasm = await chooseBackend('wasm', gpuEnv, false);
    const onGpu = fasterBackend(gpu, wasm, { webgpuMs: 2.04, wasmMs: 31.6 }, gpuEnv);
    expect(onGpu.backend).toBe('webgpu');
    expect(onGpu.unet).toBe(gpu.unet);
    expect(onGpu.reason).toBe(
      'Measured on this machine: one step took 2.0 ms on WebGPU (nvidia) and 31.6 ms on WebAssembly (4 threads), so the lab runs on the faster, WebGPU.',
    );
    const onCpu = fasterBackend(gpu, wasm, { webgpuMs: 140.2, wasmMs: 12 }, gpuEnv);
    expect(onCpu.backend).toBe('wasm');
    expect(onCpu.threads).toBe(4);
    expect(onCpu.reason).toMatch(/140 ms on WebGPU .* 12\.0 ms on WebAssembly .*faster, WebAssembly\.$/);
  });

  test('a tie keeps WebGPU; a page without isolation is named as single-threaded', async () => {
    const plain = env(fakeGpu({ features: [] }), false);
    const gpu = await chooseBackend('auto', plain, false);
    const wasm = await chooseBackend('wasm', plain, false);
    expect(fasterBackend(gpu, wasm, { webgpuMs: 5, wasmMs: 5 }, plain).backend).toBe('webgpu');
    expect(fasterBackend(gpu, wasm, { webgpuMs: 9, wasmMs: 5 }, plain).reason).toMatch(
      /WebAssembly \(single-threaded because the page is not cross-origin isolated\)/,
    );
  });
});
