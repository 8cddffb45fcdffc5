/**
 * Model identity for the queue. A chunk names its model by a content hash: sha256 of the model's
 * manifest.json bytes and the precision. The manifest lists the sha256 of every file it uses, and
 * loadNodeModel checks each file against it, so the hash pins the weights too; a worker whose copy
 * differs in any byte has another hash and refuses the chunk.
 *
 * A worker maps hashes onto the folders it was started with (`--models`); nothing in the queue is
 * a path.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Precision, ModelDirError, readManifest } from '../runner';
import type { ModelRef } from './schema';

/** The content hash of a model folder at a precision. */
export async function modelContentHash(dir: string, precision: Precision): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, 'manifest.json'));
  } catch {
    throw new ModelDirError(`no model at ${dir}: cannot read ${join(dir, 'manifest.json')}`);
  }
  return createHash('sha256').update(bytes).update(`\nprecision=${precision}`).digest('hex');
}

/** The reference a chunk carries for a model folder (validates the manifest). */
export async function modelRefOf(dir: string, precision: Precision): Promise<ModelRef> {
  const manifest = await readManifest(dir);
  if (!manifest.files.unet[precision]) throw new ModelDirError(`${dir} ships no ${precision} UNet`);
  return { hash: await modelContentHash(dir, precision), id: manifest.id, version: manifest.version, precision };
}

/** A model a worker can serve. */
export interface CatalogEntry extends ModelRef {
  dir: string;
}

/**
 * Every model in the given folders: a folder with a manifest.json is a model; any other folder is
 * searched one level down (so `public/models` serves every bundled model). Each precision the
 * manifest ships is an entry of its own.
 */
export async function scanModels(folders: readonly string[]): Promise<CatalogEntry[]> {
  const dirs: string[] = [];
  for (const folder of folders) {
    const dir = resolve(folder);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      throw new ModelDirError(`--models ${folder}: no such folder`);
    }
    if (names.includes('manifest.json')) dirs.push(dir);
    else {
      const entries = await readdir(dir, { withFileTypes: true });
      for (const e of entries)
        if (e.isDirectory() && (await readdir(join(dir, e.name))).includes('manifest.json'))
          dirs.push(join(dir, e.name));
    }
  }
  const out: CatalogEntry[] = [];
  for (const dir of [...new Set(dirs)]) {
    const manifest = await readManifest(dir);
    for (const precision of ['int8', 'fp32'] as const)
      if (manifest.files.unet[precision])
        out.push({
          dir,
          hash: await modelContentHash(dir, precision),
          id: manifest.id,
          version: manifest.version,
          precision,
        });
  }
  if (out.length === 0) throw new ModelDirError(`no model (a folder with manifest.json) in ${folders.join(', ')}`);
  return out;
}

/** "memlab-organism int8 1.0 (3f2a9c1b)" */
export function describeModel(m: ModelRef): string {
  return `${m.id} ${m.version} ${m.precision} (${m.hash.slice(0, 8)})`;
}

/** The models of a catalog in one line: "memlab-organism 1.0 (int8 3f2a9c1b, fp32 0c1d2e3f), ..." */
export function describeCatalog(catalog: readonly CatalogEntry[]): string {
  const byModel = new Map<string, CatalogEntry[]>();
  for (const e of catalog) byModel.set(`${e.id} ${e.version}`, [...(byModel.get(`${e.id} ${e.version}`) ?? []), e]);
  return [...byModel]
    .map(([name, entries]) => `${name} (${entries.map((e) => `${e.precision} ${e.hash.slice(0, 8)}`).join(', ')})`)
    .join(', ');
}
