/**
 * Files of instrumented models on disk: graph bytes written chunk by chunk (big embedded weights are
 * views into the source buffer, never joined into one more copy) and weight files placed beside the
 * new graph. onnxruntime-node refuses external data whose path leaves the model's folder, symbolic
 * links included, so a weight file is hard-linked next to the graph (same bytes, no copy); where the
 * filesystem cannot link (another device) it is copied only if the caller allows it.
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

/** A file that cannot be hard-linked where it must go, and copying was not allowed. */
export class CannotLinkError extends Error {
  override name = 'CannotLinkError';
}

/**
 * Puts `src` at `dst` as a hard link (an identical link already there is kept). Where the
 * filesystem cannot link (another device, a filesystem without hard links) it copies only when
 * `allowCopy` is set, and otherwise throws CannotLinkError.
 */
export async function linkOrCopy(src: string, dst: string, allowCopy = false): Promise<Placement> {
  const [s, d] = await Promise.all([stat(src), stat(dst).catch(() => undefined)]);
  if (d && d.ino === s.ino && d.dev === s.dev) return 'present';
  if (d) await unlink(dst);
  try {
    await link(src, dst);
    return 'linked';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK' && code !== 'ENOTSUP') throw e;
    if (!allowCopy) {
      throw new CannotLinkError(
        `cannot hard-link ${src} to ${dst} (${code}: another filesystem, or one without hard links)`,
      );
    }
    await copyFile(src, dst, constants.COPYFILE_FICLONE);
    return 'copied';
  }
}
