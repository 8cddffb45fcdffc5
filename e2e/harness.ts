/**
 * End-to-end harness: builds the app (only when its inputs changed), serves `vite preview` on a
 * free 127.0.0.1 port, and drives Debian's Chromium through playwright-core with a fresh profile.
 * Console noise is tolerated (ORT logs warnings through console.error); a test fails on ORT errors,
 * WebGPU validation errors and uncaught page errors only.
 */
import { afterAll, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { preview, type PreviewServer } from 'vite';

export const ROOT = join(import.meta.dirname, '..');
export const OUTPUT = join(ROOT, 'e2e', 'output');
const DIST = join(ROOT, 'dist');
const STAMP = join(DIST, '.e2e-build-stamp');

/** Everything the built app depends on; a change in any of them triggers a rebuild. */
const BUILD_INPUTS = [
  'index.html',
  'views.html',
  'bench.html',
  'bench/page.ts',
  'src',
  'public',
  'vite.config.ts',
  'package-lock.json',
  'tsconfig.json',
];

function listFiles(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { withFileTypes: true })
    .filter((d) => !d.name.endsWith('.test.ts'))
    .flatMap((d) => listFiles(join(path, d.name)));
}

function inputsFingerprint(): string {
  const hash = createHash('sha256');
  for (const file of BUILD_INPUTS.flatMap((p) => listFiles(join(ROOT, p))).sort()) {
    const st = statSync(file);
    hash.update(`${relative(ROOT, file)}:${st.size}:${st.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

/** `vite build`, once per change of the inputs (spec files share the build through the stamp). */
export function ensureBuild(): void {
  const fingerprint = inputsFingerprint();
  if (existsSync(STAMP) && readFileSync(STAMP, 'utf8') === fingerprint) return;
  execFileSync(
    process.execPath,
    [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--logLevel', 'warn'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  writeFileSync(STAMP, fingerprint);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Served {
  url: string;
  close(): Promise<void>;
}

export async function serve(): Promise<Served> {
  ensureBuild();
  const port = await freePort();
  const server: PreviewServer = await preview({
    root: ROOT,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port, strictPort: true, open: false },
  });
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => server.close(),
  };
}

export function chromiumPath(): string {
  for (const candidate of ['/usr/lib/chromium/chromium', '/usr/bin/chromium']) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('Chromium is not installed: run `apt-get install -y chromium` (scripts/test.sh does this).');
}

const BASE_ARGS = [
  '--no-sandbox',
  '--headless=new',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Console lines that mean a real failure; everything else (ORT warnings) is only recorded. */
const FATAL_CONSOLE = [
  /\[E:onnxruntime/,
  /GPUValidationError/,
  /WebGPU.*validation|validation.*WebGPU/i,
  /Invalid (?:BindGroup|ComputePipeline|Buffer|ShaderModule|CommandBuffer)/,
];

export interface Lab {
  context: BrowserContext;
  page: Page;
  /** console errors that fail the test, and uncaught page errors */
  fatal: string[];
  /** every console line, for diagnosis */
  console: string[];
  screenshot(name: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * The served app and a Chromium for one spec file: started in beforeAll, both closed in afterAll.
 * Read `server` and `lab` inside tests (they are set once beforeAll has run).
 */
export function labPerFile(options: LaunchOptions): { readonly server: Served; readonly lab: Lab } {
  const held: { server?: Served; lab?: Lab } = {};
  beforeAll(async () => {
    held.server = await serve();
    held.lab = await launch(options);
  });
  afterAll(async () => {
    await held.lab?.close();
    await held.server?.close();
  });
  return {
    get server() {
      if (!held.server) throw new Error('the server starts in beforeAll');
      return held.server;
    },
    get lab() {
      if (!held.lab) throw new Error('the browser starts in beforeAll');
      return held.lab;
    },
  };
}

export interface LaunchOptions {
  webgpu: boolean;
  viewport?: { width: number; height: number };
}

export async function launch(options: LaunchOptions): Promise<Lab> {
  const profile = mkdtempSync(join(tmpdir(), 'memlab-e2e-'));
  const args = [...BASE_ARGS, ...(options.webgpu ? ['--enable-unsafe-webgpu'] : [])];
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    headless: true,
    args,
    viewport: options.viewport ?? { width: 1280, height: 800 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const fatal: string[] = [];
  const lines: string[] = [];
  page.on('console', (msg) => {
    const text = `[${msg.type()}] ${msg.text()}`;
    lines.push(text);
    if ((msg.type() === 'error' || msg.type() === 'warning') && FATAL_CONSOLE.some((re) => re.test(msg.text()))) {
      fatal.push(text);
    }
  });
  page.on('pageerror', (err) => {
    lines.push(`[pageerror] ${err.message}`);
    fatal.push(`uncaught: ${err.message}`);
  });
  mkdirSync(OUTPUT, { recursive: true });
  return {
    context,
    page,
    fatal,
    console: lines,
    async screenshot(name) {
      const path = join(OUTPUT, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Read the big result canvas back as RGBA bytes (exactly what putImageData drew: alpha is opaque). */
export async function readResultPixels(page: Page): Promise<{ width: number; height: number; data: number[] }> {
  return page.evaluate(() => {
    const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="result-image"]');
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) throw new Error('no result canvas');
    const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
    return { width: img.width, height: img.height, data: Array.from(img.data) };
  });
}

/**
 * Wait until the model is loaded and Generate is enabled. A page opened without a broken link
 * generates its experiment at once, so "loaded" may already be "generating"; a Generate now
 * supersedes that run. `idle`: wait until nothing runs.
 */
export async function waitReady(page: Page, timeout = 120_000, idle = false): Promise<void> {
  const statuses = idle ? '[data-status="ready"]' : ':is([data-status="ready"], [data-status="generating"])';
  await page.locator(`[data-testid="progress"]${statuses}`).waitFor({ timeout });
}

/**
 * Waits like `locator.waitFor`, but a timeout says what the page showed then (its status, notices
 * and last console lines), so a failure seen only on CI can be read from its log.
 */
export async function waitOrExplain(lab: Lab, locator: Locator, timeout: number): Promise<void> {
  try {
    await locator.waitFor({ timeout });
  } catch (err) {
    const page = lab.page;
    // textContent: a notice's technical details sit in a closed disclosure
    const read = (testId: string) =>
      page
        .getByTestId(testId)
        .allTextContents()
        .then((t) => t.join(' | '))
        .catch(() => '?');
    const shot = await lab.screenshot(`timeout-${Date.now()}`).catch(() => 'none');
    const status = await page
      .getByTestId('progress')
      .getAttribute('data-status', { timeout: 1000 })
      .catch(() => '?');
    throw new Error(
      `${err instanceof Error ? err.message.split('\n')[0] : err}\n` +
        `status: ${status}; progress: ${await read('progress')}\nnotices: ${await read('notice')}\n` +
        `console:\n${lab.console.slice(-15).join('\n')}\nscreenshot: ${shot}`,
    );
  }
}

/** The page's result caption once a run with these settings has finished. */
export function resultCaption(page: Page, text?: string) {
  const caption = page.locator('[data-testid="image-caption"][data-kind="result"]');
  return text ? caption.filter({ hasText: text }) : caption;
}

/** Set the controls, press Generate, and wait for the final image. */
export async function generateImage(
  page: Page,
  params: { prompt: string; seed: number; steps: number; guidance: number },
  timeout = 150_000,
): Promise<void> {
  await page.getByTestId('prompt').fill(params.prompt);
  await page.getByTestId('seed').fill(String(params.seed));
  await page.getByTestId('steps').fill(String(params.steps));
  await page.getByTestId('guidance').fill(String(params.guidance));
  await page.getByTestId('generate').click();
  const done = page
    .locator('[data-testid="image-caption"][data-kind="result"]', {
      hasText: `seed ${params.seed} · ${params.steps} steps`,
    })
    .waitFor({ timeout });
  // Fail fast with the app's own message instead of waiting out the timeout.
  const failed = page
    .locator('.notice.error')
    .first()
    .waitFor({ timeout })
    .then(async () => {
      throw new Error(`the app reported: ${await page.locator('.notice.error').first().innerText()}`);
    });
  await Promise.race([done, failed]);
}
