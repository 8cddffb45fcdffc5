import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import type { FileEntry } from '../gpu/download';
import { LoadError, fetchModelFile } from './load-model';

const bytes = new Uint8Array(3000).map((_, i) => (i * 17) % 253);
const entry: FileEntry = {
  path: 'unet.onnx',
  bytes: bytes.length,
  sha256: createHash('sha256').update(bytes).digest('hex'),
};
const spoiled = bytes.map((b, i) => (i === 99 ? b ^ 0xff : b));
let answers: Uint8Array[];
const fetchMock = vi.fn(async () => new Response((answers.shift() ?? bytes).slice(0)));

beforeEach(() => {
  fetchMock.mockClear();
  vi.stubGlobal('fetch', fetchMock);
  vi.stubGlobal('caches', undefined);
});
afterEach(() => vi.unstubAllGlobals());

async function loadError(p: Promise<unknown>): Promise<LoadError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LoadError);
  return err as LoadError;
}

describe('fetchModelFile', () => {
  test('a file spoiled on one transfer is downloaded once more by itself', async () => {
    answers = [spoiled];
    const file = await fetchModelFile('http://127.0.0.1:9/m/', entry, () => undefined);
    expect(new Uint8Array(file.bytes)).toEqual(bytes);
    expect(fetchMock).toHaveBeenCalledTimes(2);
  });

  test('a file damaged on the server is refused after the second download, with nothing to retry', async () => {
    answers = [spoiled, spoiled];
    const err = await loadError(fetchModelFile('http://127.0.0.1:9/m/', entry, () => undefined));
    expect(fetchMock).toHaveBeenCalledTimes(2);
    expect(err.kind).toBe('model');
    expect(err.failure).toBe('checksum');
    expect(err.message).toMatch(/damaged/);
    expect(err.detail).toMatch(/sha256 is .* A second download was the same\./);
  });

  test('a cut-off download is not repeated by itself: the user may retry it', async () => {
    answers = [bytes.subarray(0, 100)];
    const err = await loadError(fetchModelFile('http://127.0.0.1:9/m/', entry, () => undefined));
    expect(fetchMock).toHaveBeenCalledTimes(1);
    expect(err.kind).toBe('download');
    expect(err.detail).toMatch(/received 100 of 3,000 bytes/);
  });
});
