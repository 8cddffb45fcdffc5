/**
 * Files of instrumented models on disk: graph bytes written chunk by chunk (big embedded weights are
 * views into the source buffer, never joined into one more copy) and weight files placed beside the
 * new graph. onnxruntime-node refuses external data whose path leaves the model's folder, symbolic
 * links included, so a weight file is hard-linked next to the graph (same bytes, no copy); only when
 * the filesystem cannot link (another device) is it copied, and the caller is told.
 */
import { constants } from 'node:fs';
import { copyFile, link, open, stat, unlink } from 'node:fs/promises';

/** Writes the chunks in order to `path` (replacing it). */
export async function writeChunks(path: string, chunks: readonly Uint8Array[]): Promise<number> {
  const file = await open(path, 'w');
  let bytes = 0;
  try {
    for (const chunk of chunks) {
      let at = 0;
      while (at < chunk.byteLength) {
        const { bytesWritten } = await file.write(chunk, at, chunk.byteLength - at);
        at += bytesWritten;
      }
      bytes += chunk.byteLength;
    }
  } finally {
    await file.close();
  }
  return bytes;
}

export type Placement = 'linked' | 'copied' | 'present';

/** Puts `src` at `dst` as a hard link, or a copy where linking is impossible; an identical link already there is kept. */
export async function linkOrCopy(src: string, dst: string): Promise<Placement> {
  const [s, d] = await Promise.all([stat(src), stat(dst).catch(() => undefined)]);
  if (d && d.ino === s.ino && d.dev === s.dev) return 'present';
  if (d) await unlink(dst);
  try {
    await link(src, dst);
    return 'linked';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw e;
    await copyFile(src, dst, constants.COPYFILE_FICLONE);
    return 'copied';
  }
}
