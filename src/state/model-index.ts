/** public/models/index.json: which models the lab offers and which one opens by default. */
import { z } from 'zod';
import type { FolderSource } from '../workers/protocol';

const indexSchema = z.object({
  default: z.string(),
  models: z
    // of: the base model an unlearning variant was made from (its family in the lab's comparisons)
    .array(z.object({ id: z.string(), path: z.string(), label: z.string(), of: z.string().optional() }))
    .min(1, 'lists no models'),
});

export type ModelIndex = z.infer<typeof indexSchema>;
/**
 * A model the lab can load: one of index.json's, or a Stable-Diffusion-family folder the user
 * brought (picked from disk or read from a URL), which exists only in this page.
 */
export type ModelEntry = ModelIndex['models'][number] & { source?: FolderSource };

export function parseModelIndex(json: unknown): { ok: true; index: ModelIndex } | { ok: false; problem: string } {
  const parsed = indexSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, problem: `${issue.path.join('.') || '(root)'}: ${issue.message}` };
  }
  if (!parsed.data.models.some((m) => m.id === parsed.data.default)) {
    return { ok: false, problem: `the default model "${parsed.data.default}" is not in the list` };
  }
  return { ok: true, index: parsed.data };
}

/** A model's family: its base (the model itself unless it is a variant) first, then the base's variants. */
export function familyOf(models: readonly ModelEntry[], model: ModelEntry): ModelEntry[] {
  const baseId = model.of ?? model.id;
  const base = models.find((m) => m.id === baseId);
  return [...(base ? [base] : []), ...models.filter((m) => m.of === baseId && m.id !== baseId)];
}

/** The requested model if the index has it, else the default. */
export function pickModel(index: ModelIndex, requested: string | null): ModelEntry {
  return (
    index.models.find((m) => m.id === requested) ?? index.models.find((m) => m.id === index.default) ?? index.models[0]
  );
}
