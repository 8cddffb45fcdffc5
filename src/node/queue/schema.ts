/**
 * What travels through the queue, and the command-line options that feed it, as zod schemas: the
 * same field schemas check `--queue`, `--ep`, `--precision` on the command line and every chunk a
 * worker takes from Redis, so a chunk can ask for nothing the command line could not.
 *
 * A chunk carries data only: a model content hash (never a path: the worker maps the hash onto
 * the model folders it was started with), prompts, seeds, mask values and sampling settings, and
 * at most the NAME of an attention reduction the worker already has (reductions.ts).
 */
import { z } from 'zod';

export const ExecutionProviderSchema = z.enum(['cpu', 'cuda']);
export const PrecisionSchema = z.enum(['int8', 'fp32']);

/** redis://[user:password@]host[:port][/db] or rediss:// (TLS) */
export const RedisUrlSchema = z.string().superRefine((text, ctx) => {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an address; write it as redis://host:6379` });
    return;
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:')
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a Redis address; it must start with redis:// or rediss://`,
    });
  else if (!url.hostname) ctx.addIssue({ code: 'custom', message: `"${text}" names no host; write redis://host:6379` });
  else if (url.pathname && url.pathname !== '/' && !/^\/\d+$/.test(url.pathname))
    ctx.addIssue({ code: 'custom', message: `"${text}": after the host only a database number may follow (/0)` });
});

export const SeedSchema = z
  .number()
  .int()
  .min(-(2 ** 31))
  .max(2 ** 32 - 1);
export const StepsSchema = z.number().int().min(1).max(10_000);
export const ContentHashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex');

/** `npm run worker` options (worker.ts parses the command line into this). */
export const WorkerArgsSchema = z.object({
  queue: RedisUrlSchema,
  concurrency: z.number().int().min(1).max(64),
  ep: ExecutionProviderSchema,
  /** model folders, or folders of model folders (public/models) */
  models: z.array(z.string().min(1)).min(1),
  /** onnxruntime intra-op threads per concurrent chunk */
  threads: z.number().int().min(1).max(256),
  /** how long a chunk stays locked to a worker that stopped answering (SIGKILL, lost machine) */
  lockSeconds: z.number().min(1).max(3600),
  /** how long to wait for an unreachable Redis before exiting */
  redisWaitSeconds: z.number().min(1).max(86_400),
});
export type WorkerArgs = z.infer<typeof WorkerArgsSchema>;

/** A model a chunk runs on: the hash decides; id, version and precision make messages readable. */
export const ModelRefSchema = z.object({
  hash: ContentHashSchema,
  id: z.string().max(200),
  version: z.string().max(200),
  precision: PrecisionSchema,
});
export type ModelRef = z.infer<typeof ModelRefSchema>;

const MAX_ROWS = 4096;
const MAX_PROMPT = 2000;

/**
 * One chunk: one UNet batch of sampleRows, all its steps. `blocks` are the prompt blocks the rows'
 * prompts were encoded in (each block exactly as one text-encoder call saw it, so the worker's
 * embeddings are the producer's, bit for bit); a row is [block, index in block, seed, mask].
 * Masks are sparse: [unit, value] for every unit whose scale is not 1.
 */
export const ChunkSpecSchema = z
  .object({
    schema: z.literal('memlab-chunk/1'),
    model: ModelRefSchema,
    ep: ExecutionProviderSchema,
    steps: StepsSchema,
    stopAfter: StepsSchema,
    guidance: z.number().finite().min(-1000).max(1000),
    keep: z.object({ firstDifferences: z.boolean(), images: z.boolean() }),
    attention: z.string().max(100).nullable(),
    blocks: z
      .array(z.array(z.string().max(MAX_PROMPT)).min(1).max(MAX_ROWS))
      .min(1)
      .max(MAX_ROWS),
    masks: z
      .array(z.record(z.string().max(200), z.array(z.tuple([z.number().int().min(0), z.number().finite()]))))
      .min(1)
      .max(MAX_ROWS),
    rows: z
      .array(z.tuple([z.number().int().min(0), z.number().int().min(0), SeedSchema, z.number().int().min(0)]))
      .min(1)
      .max(MAX_ROWS),
  })
  .superRefine((c, ctx) => {
    if (c.stopAfter > c.steps) ctx.addIssue({ code: 'custom', message: 'stopAfter exceeds steps' });
    c.rows.forEach(([block, index, , mask], i) => {
      if (block >= c.blocks.length || index >= c.blocks[block].length || mask >= c.masks.length)
        ctx.addIssue({ code: 'custom', message: `row ${i} points outside the chunk's prompts or masks` });
    });
  });
export type ChunkSpec = z.infer<typeof ChunkSpecSchema>;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);

/** What a worker returns for a chunk: typed arrays as base64 of their bytes (exact bits). */
export const ChunkResultSchema = z.object({
  schema: z.literal('memlab-chunk-result/1'),
  model: ContentHashSchema,
  ep: ExecutionProviderSchema,
  rows: z.number().int().min(1),
  /** steps run */
  run: z.number().int().min(1),
  /** Float64 [rows, run] */
  gaps: base64,
  /** Float32 [rows, pixels] */
  firstDifferences: base64.nullable(),
  /** Float32 [rows, pixels] */
  images: base64.nullable(),
  /** Float64 [run, rows, terms] */
  attention: base64.nullable(),
  attentionTerms: z.number().int().min(0),
  unetCalls: z.number().int().min(0),
  unetMs: z.number().min(0),
  unetRows: z.number().int().min(0),
  /** host, process and thread that ran it */
  worker: z.string(),
});
export type ChunkResult = z.infer<typeof ChunkResultSchema>;

/** The parent job of a stage: which chunks it gathers. */
export const StageDataSchema = z.object({
  schema: z.literal('memlab-stage/1'),
  model: ModelRefSchema,
  ep: ExecutionProviderSchema,
  stage: z.string().max(200),
  chunks: z.array(z.string()).min(1),
});
export type StageData = z.infer<typeof StageDataSchema>;

/** One line per problem, for messages. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}
