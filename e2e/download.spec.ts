import { organism } from '../src/core/manifest';
import { decodeModel, encodeModel } from '../src/core/onnx/proto';
/**
 * Model download failures and the Cache API: a truncated or corrupt UNet gives a clear message and
 * a Retry that works; a verified download is cached, so a reload downloads nothing again.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { generateImage, launch, readResultPixels, serve, waitReady, type Lab, type Served } from './harness';
import { defaultModel } from './models';
import { channelSpread } from './reference';

let server: Served;
const model = defaultModel();
const unet = organism(model.manifest).files.unet.int8;
const unetBytes = readFileSync(join(model.dir, unet.path));
const opened: Lab[] = [];

beforeAll(async () => {
  server = await serve();
});

afterAll(async () => {
  for (const lab of opened) await lab.close();
  await server?.close();
});

async function freshLab(): Promise<Lab> {
  const lab = await launch({ webgpu: false });
  opened.push(lab);
  return lab;
}

/** Serve a broken UNet once (workers' fetches included: the route is on the context), then the real one. */
async function breakUnetOnce(lab: Lab, body: Buffer): Promise<void> {
  let served = false;
  await lab.context.route(`**/${unet.path}*`, async (route) => {
    if (served) return route.continue();
    served = true;
    await route.fulfill({ status: 200, contentType: 'application/octet-stream', body });
  });
}

async function expectRetryWorks(lab: Lab, message: RegExp, shot: string): Promise<void> {
  const { page } = lab;
  const notice = page.locator('.notice.error').first();
  await notice.waitFor({ timeout: 60_000 });
  expect(await notice.innerText()).toMatch(message);
  expect(await page.getByTestId('generate').isDisabled()).toBe(true);
  await lab.screenshot(shot);

  await page.getByTestId('notice-retry-load').click();
  await waitReady(page);
  expect(await page.locator('.notice.error').count()).toBe(0);
  await generateImage(page, { prompt: model.manifest.memorized[0].caption, seed: 3, steps: 2, guidance: 4 });
  expect(channelSpread((await readResultPixels(page)).data)).toBeGreaterThan(5);
  expect(lab.fatal).toEqual([]);
}

test('a truncated download says so and Retry recovers', async () => {
  const lab = await freshLab();
  await breakUnetOnce(lab, unetBytes.subarray(0, Math.floor(unetBytes.length / 2)));
  await lab.page.goto(`${server.url}?backend=wasm`);
  await expectRetryWorks(lab, /stopped early.*received [\d,]+ of [\d,]+ bytes/, 'download-truncated');
});

test('a corrupt download fails the checksum and Retry recovers', async () => {
  const lab = await freshLab();
  const corrupt = Buffer.from(unetBytes);
  for (let i = 1000; i < 1100; i++) corrupt[i] ^= 0xff;
  await breakUnetOnce(lab, corrupt);
  await lab.page.goto(`${server.url}?backend=wasm`);
  await expectRetryWorks(lab, /corrupt.*sha256/, 'download-corrupt');
});

test('weights changed under a matching checksum fail the known-answer test, with a plain message', async () => {
  const lab = await freshLab();
  // Negate the largest int8 weight tensor: a valid graph of the same size that answers wrongly, and
  // a manifest re-hashed to match it (a server that published damaged files with fresh checksums).
  const graph = decodeModel(new Uint8Array(unetBytes));
  const biggest = (graph.graph?.initializer ?? []).reduce((a, b) =>
    (b.rawData?.byteLength ?? 0) > (a.rawData?.byteLength ?? 0) ? b : a,
  );
  biggest.rawData = Uint8Array.from(biggest.rawData as Uint8Array, (v) => (256 - v) & 0xff);
  const damaged = Buffer.from(encodeModel(graph));
  const manifest = structuredClone(model.manifest);
  organism(manifest).files.unet.int8 = {
    ...unet,
    bytes: damaged.byteLength,
    sha256: createHash('sha256').update(damaged).digest('hex'),
  };
  await lab.context.route(`**/${model.id}/manifest.json*`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(manifest) }),
  );
  await lab.context.route(`**/${unet.path}*`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/octet-stream', body: damaged }),
  );
  const { page } = lab;
  await page.goto(`${server.url}?backend=wasm`);
  const notice = page.locator('.notice.error').first();
  await notice.waitFor({ timeout: 90_000 });
  expect(await notice.innerText()).toMatch(/gives wrong answers.*reloading will not help/s);
  expect(await page.getByTestId('generate').isDisabled()).toBe(true);
  expect(lab.fatal).toEqual([]);
});

test('a reload reads the model from the Cache API instead of downloading it again', async () => {
  const lab = await freshLab();
  const { page, context } = lab;
  const onnxRequests: string[] = [];
  context.on('request', (req) => {
    if (/\.onnx(\?|$)/.test(req.url())) onnxRequests.push(req.url());
  });

  await page.goto(`${server.url}?backend=wasm`);
  await waitReady(page);
  const firstLoad = onnxRequests.length;
  expect(firstLoad).toBeGreaterThanOrEqual(2);
  expect(await page.getByTestId('backend-reason').innerText()).not.toContain('from the browser cache');

  await page.reload();
  await waitReady(page);
  expect(onnxRequests.length).toBe(firstLoad);
  expect(await page.getByTestId('backend-reason').innerText()).toContain('from the browser cache');
  await lab.screenshot('reload-cached');
  expect(lab.fatal).toEqual([]);
});
