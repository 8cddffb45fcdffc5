/**
 * `--queue` and `--ep` for the study commands (`npm run eval`, `npm run eval:variants`): checked
 * with the queue's own schemas, and the sampler a command puts into its RunContext. Without
 * `--queue` nothing here runs and the command is the single-process one it always was.
 */
import type { RunContext } from '../../core/science/context';
import type { ExecutionProvider, Precision } from '../runner';
import { modelRefOf } from './models';
import { type StageStatus, queueProgressPrinter } from './progress';
import { QueueSampler } from './sampler';
import { ExecutionProviderSchema, RedisUrlSchema, describeIssues } from './schema';

export const QUEUE_USAGE = `  [--queue redis://host:6379]       run the UNet batches on workers (npm run worker; docs/queue.md)
  [--ep cpu|cuda]                   onnxruntime execution provider, here and on the workers (default cpu)`;

export interface QueueArgs {
  queue?: string;
  ep: ExecutionProvider;
}

/** Checks --queue and --ep; `fail` makes the command's usage error. */
export function parseQueueArgs(values: { queue?: string; ep?: string }, fail: (message: string) => Error): QueueArgs {
  const ep = ExecutionProviderSchema.safeParse(values.ep ?? 'cpu');
  if (!ep.success) throw fail(`--ep must be cpu or cuda, got "${values.ep}"`);
  if (values.queue === undefined) return { ep: ep.data };
  const queue = RedisUrlSchema.safeParse(values.queue);
  if (!queue.success) throw fail(`--queue: ${describeIssues(queue.error)}`);
  return { queue: queue.data, ep: ep.data };
}

export interface QueueContext {
  ctx: RunContext;
  sampler?: QueueSampler;
  close(): Promise<void>;
}

/**
 * The command's context with the queue sampler in it when --queue is given (connects first, so a
 * wrong address fails before any work). Queue stages report through `onStatus`, by default a line
 * on stderr.
 */
export async function withQueue(
  args: QueueArgs,
  models: readonly { dir: string; precision: Precision }[],
  ctx: RunContext,
  onStatus?: (status: StageStatus) => void,
): Promise<QueueContext> {
  if (!args.queue) return { ctx, close: async () => {} };
  const refs = await Promise.all(models.map((m) => modelRefOf(m.dir, m.precision)));
  const sampler = await QueueSampler.open({
    url: args.queue,
    models: refs,
    ep: args.ep,
    onStatus: onStatus ?? queueProgressPrinter(process.stderr, () => {}).onStatus,
  });
  return { ctx: { ...ctx, sampler }, sampler, close: () => sampler.close() };
}
