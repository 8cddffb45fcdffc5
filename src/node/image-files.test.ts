import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'fast-png';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicationNeedsReferences } from '../core/prompts/references';
import type { PromptSet } from '../core/prompts/types';
import { jpegDecoder, readImageFile, readImageFolder, readPromptReferences } from './image-files';

let dir: string;
const pixel = (v: number) => encode({ width: 2, height: 2, channels: 3, data: new Uint8Array(12).fill(v) });
const set: PromptSet = {
  name: 'wen',
  label: 'memorized',
  prompts: [
    { caption: 'a', index: 17 },
    { caption: 'b', url: 'https://x.org/img/b.jpg' },
    { caption: 'c', index: 3 },
  ],
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memlab-images-'));
  await mkdir(join(dir, 'refs'));
  await writeFile(join(dir, 'refs', '000017.png'), pixel(10));
  await writeFile(join(dir, 'refs', 'b.png'), pixel(20));
  await writeFile(join(dir, 'refs', '3.png'), 'truncated');
  await writeFile(join(dir, 'refs', 'readme.txt'), 'not an image');
  await writeFile(join(dir, 'refs', 'photo.jpg'), Uint8Array.of(0xff, 0xd8, 0xff, 0xe0, 0, 0));
  await mkdir(join(dir, 'refs', 'sub.png'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('reading reference images from a folder', () => {
  it("matches a prompt set's references by index and URL file name, and reports the file that fails", async () => {
    const r = await readPromptReferences(join(dir, 'refs'), set);
    expect(r.matching.matches.map((m) => [m.prompt, m.file, m.by])).toEqual([
      [0, '000017.png', 'index'],
      [1, 'b.png', 'file name'],
      [2, '3.png', 'index'],
    ]);
    expect([...r.images.keys()]).toEqual([0, 1]);
    expect(r.images.get(1)!.image).toEqual({ data: new Uint8Array(12).fill(20), width: 2, height: 2 });
    expect(r.failed).toEqual([{ file: '3.png', reason: `${join(dir, 'refs', '3.png')} is not a PNG or JPEG image` }]);
    expect(replicationNeedsReferences(r.matching)).toBeNull();
  });

  it('reads every image of a folder, skipping other files and folders, with a reason for each failure', async () => {
    const folder = await readImageFolder(join(dir, 'refs'));
    expect(folder.images.map((i) => i.id)).toEqual(['000017.png', 'b.png']);
    const jpeg = await jpegDecoder();
    expect(folder.failed.map((f) => f.file)).toEqual(['3.png', 'photo.jpg']);
    expect(folder.failed[1].reason).toMatch(
      jpeg ? /could not be decoded as JPEG/ : /reading JPEG needs the jpeg-js package/,
    );
    await expect(readImageFolder(join(dir, 'absent'))).rejects.toThrow(/cannot read the folder .*absent \(ENOENT\)/);
    await expect(readImageFile(join(dir, 'refs', 'readme.txt'))).rejects.toThrow(/is not a PNG or JPEG image/);
  });
});
