/**
 * the "Universal mask" preset at once: when a model is ready and ships a universal mask (manifest
 * presets, made by `npm run model:presets`), the preset is fetched, checked against its size and
 * hash, and offered, so a class needs no minutes of "Find universal mask" first. A universal mask
 * computed in the lab replaces it (the job's effect), and the shipped one never replaces a
 * computed one that arrived first.
 */
import { shippedUniversalPreset, shippedUniversalEntry } from '../core/jobs/effects';
import type { Manifest } from '../core/manifest';
import { parseMaskPreset } from '../core/presets';
import { modelUrlOf } from './slices/paths';
import type { LabContext } from './slices/slice';

export function loadShippedPreset(ctx: LabContext, manifest: Manifest): void {
  const { get, set, deps } = ctx;
  const entry = shippedUniversalEntry(manifest);
  if (!entry || !deps.fetchModelJson || get().pruningPreset) return;
  deps
    .fetchModelJson(modelUrlOf(get(), deps), entry)
    .then((json) => {
      const s = get();
      // another model, or a mask computed meanwhile, wins
      if (s.manifest !== manifest || s.pruningPreset) return;
      set({ pruningPreset: shippedUniversalPreset(manifest, parseMaskPreset(json, manifest)) });
    })
    .catch((err: unknown) => {
      if (get().manifest !== manifest) return;
      get().notify(
        'warning',
        `The model's ready-made universal mask could not be loaded (${err instanceof Error ? err.message : String(err)}). “Find universal mask” under Find memorization makes it.`,
      );
    });
}
