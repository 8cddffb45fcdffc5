import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderError, folderFromFiles, folderFromUrl, normaliseBaseUrl, relativePaths } from './model-folder';

const FIXTURE = join(process.cwd(), '../shared/fixtures/tiny-sd1');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** The fixture as a directory picker hands it over: File objects named "<folder>/<path>". */
function pickedFiles(): File[] {
  return walk(FIXTURE).map((path) => {
    const file = new File([readFileSync(path)], path.split('/').pop()!);
    Object.defineProperty(file, 'webkitRelativePath', { value: `tiny-sd1/${relative(FIXTURE, path)}` });
    return file;
  });
}

describe('relativePaths', () => {
  it('drops the picked folder name so paths read as the diffusers layout names them', () => {
    const files = [
      { name: 'a', webkitRelativePath: 'sd/unet/model.onnx' },
      { name: 'b', webkitRelativePath: 'sd/model_index.json' },
    ];
    expect(relativePaths(files)).toEqual(['unet/model.onnx', 'model_index.json']);
  });
  it('keeps paths whole when files come from several folders or have no folder', () => {
    expect(relativePaths([{ name: 'model_index.json' }, { name: 'x', webkitRelativePath: 'unet/model.onnx' }])).toEqual(
      ['model_index.json', 'unet/model.onnx'],
    );
  });
});

describe('folderFromFiles', () => {
  it('reads the picked files by their layout path', async () => {
    const folder = folderFromFiles(pickedFiles());
    expect(folder.label).toBe('tiny-sd1');
    expect(await folder.has('unet/weights.pb')).toBe(true);
    expect(await folder.size('unet/weights.pb')).toBe(statSync(join(FIXTURE, 'unet/weights.pb')).size);
    const index = JSON.parse(await folder.readText('model_index.json'));
    expect(index._class_name).toBeTruthy();
  });
  it('names a missing file in words', async () => {
    const folder = folderFromFiles(pickedFiles());
    await expect(folder.read('tokenizer/tokenizer.json')).rejects.toMatchObject({
      name: 'FolderError',
      reason: 'missing',
      message: 'The folder has no file tokenizer/tokenizer.json.',
    });
  });
});

describe('folderFromUrl against a real HTTP server', () => {
  let server: Server;
  let base: string;
  let requests: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname).replace(/^\/sd\//, '');
      if (path === 'broken') {
        res.writeHead(500);
        res.end();
        return;
      }
      try {
        const bytes = readFileSync(join(FIXTURE, path));
        res.writeHead(200, { 'content-length': bytes.byteLength });
        res.end(req.method === 'HEAD' ? undefined : bytes);
      } catch {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sd`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('resolves paths below the base, with progress up to the full size', async () => {
    const folder = folderFromUrl(`${base}?download=true#x`);
    expect(folder.baseUrl).toBe(`${base}/`);
    const seen: number[] = [];
    const bytes = await folder.read('unet/weights.pb', (loaded, total) => {
      seen.push(loaded);
      expect(total).toBe(statSync(join(FIXTURE, 'unet/weights.pb')).size);
    });
    expect(bytes.byteLength).toBe(statSync(join(FIXTURE, 'unet/weights.pb')).size);
    expect(seen.at(-1)).toBe(bytes.byteLength);
    expect(Buffer.from(bytes).equals(readFileSync(join(FIXTURE, 'unet/weights.pb')))).toBe(true);
  });

  it('asks the server whether a file exists without downloading it', async () => {
    requests = [];
    const folder = folderFromUrl(base);
    expect(await folder.has('tokenizer/merges.txt')).toBe(true);
    expect(await folder.has('tokenizer/tokenizer.json')).toBe(false);
    expect(requests.every((r) => r.startsWith('HEAD '))).toBe(true);
  });

  it('tells a missing file from a server failure and an unreachable host', async () => {
    const folder = folderFromUrl(base);
    const missing = await folder.read('vae_encoder/model.onnx').catch((e) => e);
    expect(missing).toBeInstanceOf(FolderError);
    expect(missing.reason).toBe('missing');
    const failed = await folder.read('broken').catch((e) => e);
    expect(failed.reason).toBe('network');
    expect(failed.message).toMatch(/HTTP 500/);
    const dead = folderFromUrl('http://127.0.0.1:9/sd/');
    const unreachable = await dead.read('model_index.json').catch((e) => e);
    expect(unreachable.reason).toBe('network');
    expect(unreachable.message).toMatch(/Could not reach 127\.0\.0\.1:9/);
  });
});

describe('normaliseBaseUrl', () => {
  it('refuses addresses that are not http(s)', () => {
    expect(() => normaliseBaseUrl('file:///etc/')).toThrow(/http/);
    expect(() => normaliseBaseUrl('not a url')).toThrow();
  });
});
