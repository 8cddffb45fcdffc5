/**
 * The backend switch beside the badge, on Chromium's SwiftShader WebGPU adapter
 * (--enable-unsafe-webgpu): Auto passes the software adapter over; switching to WebGPU loads the
 * model there, keeps the experiment, makes the same image again on WebGPU and writes
 * ?backend=webgpu into the link, which a reload reads back; Auto again drops it from the link.
 *
 * Auto's measurement (one UNet step on WebGPU against WebAssembly, the faster kept) runs only on a
 * real GPU; the test-only ?measure-software-gpu=1 sends the software adapter down that path, so
 * the timing, the choice and the reason are exercised here. What this cannot show without a real
 * GPU: WebGPU winning the measurement and generating from it (unit-tested in src/gpu/backend.test.ts
 * with fake timings) and how long shader compilation takes on real hardware.
 *
 * SwiftShader runs on the CPU, about 50x slower than WASM: runs are kept to 2 steps.
 */
import { expect, test } from 'vitest';
import { labPerFile, readResultPixels, resultCaption, waitReady } from './harness';
import { pixelDiff } from './reference';

const files = labPerFile({ webgpu: true });
const LINK = 'v=1&s=5&n=2';
const SLOW = 400_000;

test(
  'switching to WebGPU keeps the experiment, makes the same image there and goes into the link',
  async () => {
    const { page } = files.lab;
    await page.goto(`${files.server.url}?${LINK}`);
    await resultCaption(page, 'seed 5 · 2 steps').waitFor({ timeout: 200_000 });
    expect(await page.getByTestId('backend').getAttribute('data-backend')).toBe('wasm');
    expect(await page.getByTestId('backend-select').inputValue()).toBe('auto');
    const onWasm = (await readResultPixels(page)).data;
    const prompt = await page.getByTestId('prompt').inputValue();

    await page.getByTestId('backend-select').selectOption('webgpu');
    await expect.poll(() => page.evaluate(() => new URLSearchParams(location.search).get('backend'))).toBe('webgpu');
    // the same experiment, made again on the new backend
    await page.locator('[data-testid="backend"][data-backend="webgpu"]').waitFor({ timeout: SLOW });
    expect(await page.getByTestId('backend-reason').innerText()).toMatch(
      /WebGPU was requested: .*swiftshader.*software adapter .* much slower than WebAssembly/i,
    );
    // the badge turns with the ready model, the run on it has started in the same update: wait it out
    await waitReady(page, SLOW, true);
    await resultCaption(page, 'seed 5 · 2 steps').waitFor({ timeout: 10_000 });
    expect(await page.getByTestId('prompt').inputValue()).toBe(prompt);
    const onGpu = (await readResultPixels(page)).data;
    const diff = pixelDiff(onGpu, onWasm);
    expect(diff.max).toBeLessThanOrEqual(2);
    expect(new URLSearchParams(await page.evaluate(() => location.search)).get('s')).toBe('5');
    await files.lab.screenshot('backend-webgpu');

    // the link reopens on WebGPU
    await page.reload();
    await waitReady(page, SLOW);
    expect(await page.getByTestId('backend-select').inputValue()).toBe('webgpu');
    expect(await page.getByTestId('backend').getAttribute('data-backend')).toBe('webgpu');

    // Auto again: the software adapter is passed over and the link drops the choice
    await page.getByTestId('backend-select').selectOption('auto');
    await page.locator('[data-testid="backend"][data-backend="wasm"]').waitFor({ timeout: SLOW });
    expect(await page.getByTestId('backend-reason').innerText()).toMatch(/software one/);
    await expect.poll(() => page.evaluate(() => location.search)).not.toContain('backend=');
    expect(files.lab.fatal).toEqual([]);
  },
  SLOW * 2,
);

test(
  'auto times one step on WebGPU and on WebAssembly and keeps the faster, saying why (forced onto SwiftShader)',
  async () => {
    const page = await files.lab.context.newPage();
    try {
      await page.goto(`${files.server.url}?measure-software-gpu=1&${LINK}`);
      await resultCaption(page, 'seed 5 · 2 steps').waitFor({ timeout: SLOW });
      const reason = await page.getByTestId('backend-reason').innerText();
      const measured = reason.match(
        /Measured on this machine: one step took ([\d.]+) ms on WebGPU \(.*swiftshader.*\) and ([\d.]+) ms on WebAssembly \(\d+ threads?\), so the lab runs on the faster, (WebGPU|WebAssembly)\./i,
      );
      expect(measured, reason).not.toBeNull();
      const [gpuMs, wasmMs] = [Number(measured![1]), Number(measured![2])];
      const kept = gpuMs <= wasmMs ? 'webgpu' : 'wasm';
      expect(measured![3]).toBe(kept === 'webgpu' ? 'WebGPU' : 'WebAssembly');
      expect(await page.getByTestId('backend').getAttribute('data-backend')).toBe(kept);
      console.info(`measured: SwiftShader ${gpuMs} ms, WebAssembly ${wasmMs} ms per step; kept ${kept}`);
    } finally {
      await page.close();
    }
  },
  SLOW,
);
