/**
 * WebGPU end to end on Chromium's SwiftShader adapter (--enable-unsafe-webgpu): "auto" passes the
 * software adapter over for WebAssembly; a link asking for WebGPU runs on it and its image equals
 * the Node reference. SwiftShader is ~50x slower than WASM,
 * so this checks correctness over 3 steps, not speed. SwiftShader runs on the CPU: with the
 * training job holding both cores, its shader compilation alone took 120 s, so the budget is wide.
 */
import { expect, test } from 'vitest';
import { labPerFile, readResultPixels, resultCaption, waitReady } from './harness';
import { defaultModel } from './models';
import { channelSpread, pixelDiff, referenceImage } from './reference';

const files = labPerFile({ webgpu: true });
const model = defaultModel();

test('auto passes a software adapter over for WebAssembly and says why', async () => {
  const { page } = files.lab;
  await page.goto(files.server.url);
  await waitReady(page, 200_000);
  expect(await page.getByTestId('backend').getAttribute('data-backend')).toBe('wasm');
  expect(await page.getByTestId('backend-reason').innerText()).toMatch(/software one \(google swiftshader\)/);
}, 300_000);

test('asked for WebGPU, runs on it and matches the Node reference', async () => {
  const { page } = files.lab;
  const params = { prompt: model.manifest.memorized[0].caption, seed: 99, steps: 3, guidance: 4 };
  // A link with the experiment: it runs on its own once the model is ready (3 steps, not the default 25).
  const link = new URLSearchParams({
    backend: 'webgpu',
    v: '1',
    p: params.prompt,
    s: String(params.seed),
    n: String(params.steps),
    g: String(params.guidance),
  });
  const started = Date.now();
  await page.goto(`${files.server.url}?${link}`);
  await waitReady(page, 200_000);
  await expect.poll(() => page.getByTestId('backend').getAttribute('data-backend')).toBe('webgpu');
  await expect.poll(() => page.getByTestId('backend-reason').innerText()).toMatch(/WebGPU was requested/);
  await resultCaption(page, `seed ${params.seed} · ${params.steps} steps`).waitFor({ timeout: 380_000 });
  const seconds = (Date.now() - started) / 1000;
  await files.lab.screenshot('webgpu-result');

  const shown = await readResultPixels(page);
  expect(channelSpread(shown.data)).toBeGreaterThan(5);
  const reference = await referenceImage(model.id, params);
  const diff = pixelDiff(shown.data, reference);
  console.info(
    `webgpu: load and ${params.steps} steps in ${seconds.toFixed(1)} s; vs Node reference max ${diff.max}, mean ${diff.mean.toFixed(4)}, changed ${(diff.changed * 100).toFixed(2)}%`,
  );
  // GPU reductions sum in another order than the CPU: allow 2 levels of 255, almost all exact.
  expect(diff.max).toBeLessThanOrEqual(2);
  expect(diff.changed).toBeLessThan(0.02);
  expect(files.lab.fatal).toEqual([]);
}, 600_000);
