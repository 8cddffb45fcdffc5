/** Which model the specs run: the index's default, read the way the app reads it. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseManifest, type Manifest } from '../src/core/manifest';
import { parseModelIndex } from '../src/state/model-index';
import { ROOT } from './harness';

export function defaultModel(): { id: string; dir: string; manifest: Manifest } {
  const parsed = parseModelIndex(JSON.parse(readFileSync(join(ROOT, 'public', 'models', 'index.json'), 'utf8')));
  if (!parsed.ok) throw new Error(`public/models/index.json: ${parsed.problem}`);
  const entry = parsed.index.models.find((m) => m.id === parsed.index.default) ?? parsed.index.models[0];
  const dir = join(ROOT, 'public', 'models', entry.path);
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  if (!manifest.ok) throw new Error(`${entry.path}/manifest.json: ${manifest.problems.join('; ')}`);
  return { id: entry.path, dir, manifest: manifest.manifest };
}
