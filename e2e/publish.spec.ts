/**
 * The production build as a static host serves it: under a sub-path (a project page such as
 * https://host/memorization-lab/), by a plain file server that sends no isolation headers. The
 * page must load its assets and models by relative URL, regain cross-origin isolation (WASM
 * threads) through the service-worker fallback, generate, and a copied link must reopen the same
 * pixels. Where service workers are blocked it still runs, single-threaded, and says why.
 */
import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import {
  chromiumPath,
  ensureBuild,
  generateImage,
  launch,
  type Lab,
  readResultPixels,
  ROOT,
  waitReady,
} from './harness';

const DIST = join(ROOT, 'dist');
const SUB_PATH = '/memorization-lab/';
const TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
};

/** A plain static file server: files under SUB_PATH, content types, 404 elsewhere, no other headers. */
function staticHost(): Promise<{ server: Server; base: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    if (!path.startsWith(SUB_PATH)) {
      res.writeHead(404).end();
      return;
    }
    let file = normalize(join(DIST, path.slice(SUB_PATH.length)));
    if (!file.startsWith(DIST)) {
      res.writeHead(403).end();
      return;
    }
    try {
      if (statSync(file).isDirectory()) file = join(file, 'index.html');
      const body = readFileSync(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}${SUB_PATH}`, requests }),
    ),
  );
}

let host: Awaited<ReturnType<typeof staticHost>>;
let lab: Lab;
const params = { prompt: 'a painting of zephyr', seed: 11, steps: 4, guidance: 4 };

beforeAll(async () => {
  ensureBuild();
  host = await staticHost();
  lab = await launch({ webgpu: false });
});
afterAll(async () => {
  await lab?.close();
  await new Promise((done) => host?.server.close(done));
});

test('under a sub-path without isolation headers: loads, regains isolation, generates, and a link reopens the same pixels', async () => {
  const { page } = lab;
  await page.goto(`${host.base}?backend=wasm`);
  // The fallback registers its service worker and reloads once; the reloaded page is isolated.
  await page.waitForFunction(() => globalThis.crossOriginIsolated === true, null, { timeout: 60_000 });
  await waitReady(page);
  expect(await page.getByTestId('backend-reason').innerText()).toMatch(/\d threads?\)/);
  expect(host.requests.filter((p) => !p.startsWith(SUB_PATH))).toEqual([]);

  await generateImage(page, params);
  const pixels = await readResultPixels(page);
  const link = page.url();
  expect(link.startsWith(host.base)).toBe(true);

  const other = await lab.context.newPage();
  try {
    await other.goto(link);
    await other
      .locator('[data-testid="image-caption"][data-kind="result"]', {
        hasText: `seed ${params.seed} · ${params.steps} steps`,
      })
      .waitFor({ timeout: 120_000 });
    const again = await readResultPixels(other);
    const maxDiff = again.data.reduce((m, v, i) => Math.max(m, Math.abs(v - pixels.data[i])), 0);
    expect(again.width).toBe(pixels.width);
    expect(maxDiff).toBeLessThanOrEqual(1);
  } finally {
    await other.close();
  }
  expect(lab.fatal).toEqual([]);
});

test('where service workers are blocked, it still runs, single-threaded, and says why', async () => {
  const context = await chromium.launch({ executablePath: chromiumPath(), headless: true, args: ['--no-sandbox'] });
  try {
    const page = await (await context.newContext({ serviceWorkers: 'block' })).newPage();
    await page.goto(`${host.base}?backend=wasm`);
    await waitReady(page);
    expect(await page.evaluate(() => globalThis.crossOriginIsolated)).toBe(false);
    expect(await page.getByTestId('backend-reason').innerText()).toMatch(
      /single-threaded because the page is not cross-origin isolated/,
    );
    await generateImage(page, params);
  } finally {
    await context.close();
  }
});
