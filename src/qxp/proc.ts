import { workerData, threadId } from 'node:worker_threads';
import { loadNodeModel, type NodeModel } from '../node/runner';
let model: NodeModel | undefined;
export async function processIt(job: { data: { n: number } }) {
  const t = performance.now();
  model ??= await loadNodeModel(workerData.dir, { threads: 1 });
  return { n: job.data.n, tid: threadId, ms: performance.now() - t, id: model.manifest.id };
}
