/**
 * The model's own prompt sets, from its manifest: the planted memorized captions (each with the
 * index of its training image) and the neutral prompts. They head the list of sets a study can
 * use, in the same shape as an imported file.
 */
import type { Manifest } from '../manifest';
import type { PromptSet } from './types';

export function promptSetsOfManifest(manifest: Manifest): PromptSet[] {
  const sets: PromptSet[] = [];
  if (manifest.memorized.length > 0) {
    sets.push({
      name: `${manifest.id}: memorized captions`,
      label: 'memorized',
      prompts: manifest.memorized.map((m) => ({
        caption: m.caption,
        index: m.imageIndex,
        kind: m.kind === 'verbatim' ? 'VM' : 'TM',
      })),
    });
  }
  if (manifest.neutralPrompts.length > 0) {
    sets.push({
      name: `${manifest.id}: neutral prompts`,
      label: 'non-memorized',
      prompts: manifest.neutralPrompts.map((caption) => ({ caption })),
    });
  }
  return sets;
}
