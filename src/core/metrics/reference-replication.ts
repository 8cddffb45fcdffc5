/**
 * Replication against reference images, as the field measures it for Stable Diffusion: embed the
 * generation and the training images, and call the generation a copy when its similarity to a
 * training image exceeds a threshold.
 *
 *   nearest  the most similar reference of all (Somepalli et al.: "replication" is a generation
 *            whose top-1 SSCD match in the training set is above 0.5)
 *   own      the reference matched to the generation's prompt, when it has one (Webster; Carlini
 *            et al. compare a generation with the training image of its caption)
 *
 * A study reports the share of generations over the threshold by either.
 */
import { type ImageEncoder, type RgbImage, cosineSimilarity } from './embedding';

export interface ReferenceImage {
  /** how results name it: a file name, a training index */
  id: string;
  image: RgbImage;
}

/** References embedded once, for many comparisons. */
export interface EmbeddedReferences {
  encoder: string;
  ids: string[];
  vectors: Float32Array[];
}

export async function embedReferences(
  encoder: ImageEncoder,
  references: readonly ReferenceImage[],
): Promise<EmbeddedReferences> {
  if (references.length === 0) throw new RangeError('replication needs at least one reference image');
  const ids = references.map((r) => r.id);
  if (new Set(ids).size !== ids.length) throw new RangeError('reference ids must be unique');
  const vectors = await encoder.embed(references.map((r) => r.image));
  if (vectors.length !== references.length)
    throw new Error(`the encoder returned ${vectors.length} vectors for ${references.length} images`);
  return { encoder: encoder.id, ids, vectors };
}

export interface Nearest {
  id: string;
  similarity: number;
}

/** The most similar reference to one embedding (first in order on ties). */
export function nearestReference(vector: Float32Array, refs: EmbeddedReferences): Nearest {
  let best = -1;
  let bestSim = Number.NEGATIVE_INFINITY;
  refs.vectors.forEach((v, i) => {
    const s = cosineSimilarity(vector, v);
    if (s > bestSim) {
      bestSim = s;
      best = i;
    }
  });
  return { id: refs.ids[best], similarity: bestSim };
}

export interface Generation {
  image: RgbImage;
  /** id of the reference matched to this generation's prompt, if any */
  reference?: string;
}

export interface GenerationReplication {
  nearest: Nearest;
  /** similarity > threshold to the nearest reference */
  copy: boolean;
  own?: Nearest & { copy: boolean };
}

export interface ReferenceReplicationReport {
  encoder: string;
  threshold: number;
  generations: GenerationReplication[];
  /** share of generations over the threshold against their nearest reference */
  rate: number;
  count: number;
  total: number;
  /** the same against each generation's own reference, over those that have one (null: none has) */
  ownRate: number | null;
  ownCount: number;
  ownTotal: number;
}

/** Scores every generation against the references; `threshold`: similarity strictly above it is a copy. */
export async function replicationAgainstReferences(
  generations: readonly Generation[],
  references: EmbeddedReferences,
  encoder: ImageEncoder,
  threshold: number,
): Promise<ReferenceReplicationReport> {
  if (references.encoder !== encoder.id)
    throw new Error(`references were embedded by ${references.encoder}, generations would be by ${encoder.id}`);
  if (!Number.isFinite(threshold)) throw new RangeError(`threshold must be a number, got ${threshold}`);
  const index = new Map(references.ids.map((id, i) => [id, i]));
  for (const g of generations)
    if (g.reference !== undefined && !index.has(g.reference))
      throw new RangeError(`generation names reference "${g.reference}", which is not among the references`);
  const vectors = await encoder.embed(generations.map((g) => g.image));
  const results = generations.map((g, i): GenerationReplication => {
    const nearest = nearestReference(vectors[i], references);
    const out: GenerationReplication = { nearest, copy: nearest.similarity > threshold };
    if (g.reference !== undefined) {
      const similarity = cosineSimilarity(vectors[i], references.vectors[index.get(g.reference)!]);
      out.own = { id: g.reference, similarity, copy: similarity > threshold };
    }
    return out;
  });
  const count = results.filter((r) => r.copy).length;
  const withOwn = results.filter((r) => r.own);
  const ownCount = withOwn.filter((r) => r.own!.copy).length;
  return {
    encoder: encoder.id,
    threshold,
    generations: results,
    rate: results.length ? count / results.length : 0,
    count,
    total: results.length,
    ownRate: withOwn.length ? ownCount / withOwn.length : null,
    ownCount,
    ownTotal: withOwn.length,
  };
}
