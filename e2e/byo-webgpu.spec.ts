/**
 * A brought Stable Diffusion folder on WebGPU (Chromium's SwiftShader adapter, asked for with
 * ?backend=webgpu): the real diffusers export in ../shared/fixtures/tiny-sd1 and the same UNet after
 * onnxruntime's attention fusion both generate, and their images equal the WebAssembly run's within
 * 2 levels. SwiftShader runs on the CPU about 50x slower than WebAssembly, so the runs are 2 steps.
 * The Olive recipe's full fusion (packed QKV/KV and GroupNorm) is tried too and what happens is
 * recorded: onnxruntime's CPU kernels cannot run it, WebGPU may.
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, expect, test } from 'vitest';
import { labPerFile, readResultPixels, ROOT, waitReady } from './harness';

const FIXTURE = join(ROOT, '../shared/fixtures/tiny-sd1');
const files = labPerFile({ webgpu: true });
const scratch = mkdtempSync(join(tmpdir(), 'memlab-byo-gpu-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The fixture with its UNet replaced by one of the fused forms (the rest of the pipeline unchanged). */
function withUnet(name: string, unetDir: string): string {
  const dir = join(scratch, name);
  cpSync(FIXTURE, dir, { recursive: true, filter: (src) => !src.includes('unet-fused') && !src.includes('reference') });
  cpSync(join(unetDir, 'model.onnx'), join(dir, 'unet/model.onnx'));
  cpSync(join(unetDir, 'weights.pb'), join(dir, 'unet/weights.pb'));
  return dir;
}

async function generateFrom(page: Page, backend: 'wasm' | 'webgpu', dir: string) {
  await page.goto(`${files.server.url}?backend=${backend}`);
  await waitReady(page, 200_000);
  await page.getByTestId('load-model').click();
  await page.getByTestId('load-folder-input').setInputFiles(dir);
  const outcome = await Promise.race([
    page
      .getByTestId('load-report')
      .waitFor({ timeout: 300_000 })
      .then(() => 'ready' as const),
    page
      .getByTestId('load-error')
      .waitFor({ timeout: 300_000 })
      .then(() => 'error' as const),
  ]);
  if (outcome === 'error') {
    const error = page.getByTestId('load-error');
    const full = await page.locator('.notice.error .message').first().textContent();
    return { error: `${await error.innerText()} | ${full}` };
  }
  await page.getByTestId('load-close').click();
  await waitReady(page, 200_000);
  await page.getByTestId('prompt').fill('a photo of a cat');
  await page.getByTestId('steps').fill('2');
  await page.getByTestId('guidance').fill('7.5');
  await page.getByTestId('generate').click();
  await page
    .locator('[data-testid="image-caption"][data-kind="result"]', { hasText: '2 steps' })
    .waitFor({ timeout: 400_000 });
  const onGpu = page.getByTestId('context-on-gpu');
  return {
    pixels: (await readResultPixels(page)).data,
    backend: await page.getByTestId('backend').getAttribute('data-backend'),
    contextOnGpu: (await onGpu.count()) > 0 ? await onGpu.innerText() : null,
  };
}

const maxDiff = (a: number[], b: number[]) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

test('the plain and the fused export generate on WebGPU as on WebAssembly', async () => {
  const { page } = files.lab;
  const fused = withUnet('fused', join(FIXTURE, 'unet-fused'));
  for (const [name, dir] of [
    ['plain', FIXTURE],
    ['fused', fused],
  ] as const) {
    const wasm = await generateFrom(page, 'wasm', dir);
    const gpu = await generateFrom(page, 'webgpu', dir);
    if (!wasm.pixels || !gpu.pixels) throw new Error(`${name}: ${wasm.error ?? gpu.error}`);
    expect(gpu.backend).toBe('webgpu');
    // the text context is uploaded once and every later UNet call of the run finds it on the GPU
    expect(wasm.contextOnGpu).toBeNull();
    const calls = gpu.contextOnGpu?.match(/uploaded once, reused by (\d+) of the (\d+) model calls/);
    expect(calls, String(gpu.contextOnGpu)).not.toBeNull();
    expect(Number(calls![1])).toBe(Number(calls![2]) - 1);
    expect(Number(calls![2])).toBeGreaterThanOrEqual(2);
    const diff = maxDiff(gpu.pixels, wasm.pixels);
    console.info(`byo ${name}: WebGPU vs WebAssembly max difference ${diff} levels`);
    expect(diff).toBeLessThanOrEqual(2);
  }
  expect(files.lab.fatal).toEqual([]);
}, 1_200_000);

test('the Olive recipe form (packed attention, GroupNorm): what WebGPU does with it', async () => {
  const { page } = files.lab;
  const olive = withUnet('olive', join(FIXTURE, 'unet-fused/olive-recipe'));
  const gpu = await generateFrom(page, 'webgpu', olive);
  console.info(`byo olive-recipe on WebGPU: ${gpu.error ? `refused: ${gpu.error}` : 'generated'}`);
  // Either it runs, or the lab says in words why it cannot: never a hang or a blank page.
  if (gpu.error) expect(gpu.error).toMatch(/could not be started|cannot/i);
  else expect(gpu.pixels?.length).toBeGreaterThan(0);
}, 900_000);
