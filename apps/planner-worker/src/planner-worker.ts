/**
 * The planner worker: consumes `plan`, produces tokens, a preview and the decode job.
 * It holds up to PLANNER_MAX_BATCH plan jobs at once and the planner decodes them in one
 * continuous batch: each job is its own plan call, joining the batch when fetched and
 * leaving it when done. A factory, so that tests run it in-process against their own
 * Redis and S3.
 */
import { ImageTokenizer, loadModelPack, Planner, PreviewRenderer } from '@glm-image/inference';
import type { PlannerEnv } from '@glm-image/shared/env';
import type { DecodeJobData } from '@glm-image/shared/queues';
import {
  consumeQueueInBatches,
  createWorkerRuntime,
  executionOptionsFromEnv,
  type StageWorker,
} from '@glm-image/worker-runtime';
import { runPlanJob } from './plan-job.ts';

export async function createPlannerWorker(env: PlannerEnv): Promise<StageWorker> {
  const runtime = await createWorkerRuntime('planner-worker', env);
  try {
    const pack = await loadModelPack(env.MODEL_PACK_PATH);
    const planner = await Planner.load(pack, executionOptionsFromEnv(env), {
      maxBatch: env.PLANNER_MAX_BATCH,
    });
    // The preview model is small: it always runs on CPU beside the planner.
    const preview = await PreviewRenderer.load(pack, { executionProvider: 'cpu' });
    // Reads reference images for the prompt (image-to-image); null when the pack takes none.
    const imageTokenizer = await ImageTokenizer.load(pack, executionOptionsFromEnv(env));
    runtime.onClose(async () => {
      await planner.close();
      await preview?.close();
      await imageTokenizer?.close();
    });
    const decodeQueue = runtime.openQueue<DecodeJobData>('decode');
    return await consumeQueueInBatches(runtime, 'plan', env.PLANNER_MAX_BATCH, (job, token) =>
      runPlanJob({ ...runtime, planner, preview, imageTokenizer, decodeQueue }, job, token),
    );
  } catch (error) {
    await runtime.close();
    throw error;
  }
}
