/** The planner worker process: consumes `plan`, produces tokens, a preview and the decode job. */
import { loadModelPack, Planner, PreviewRenderer } from '@glm-image/inference';
import { parseEnvOrExit, parsePlannerEnv } from '@glm-image/shared/env';
import type { DecodeJobData, PlanJobData } from '@glm-image/shared/queues';
import { createWorkerRuntime, serveQueue } from '@glm-image/shared/worker-runtime';
import { runPlanJob } from './plan-job.ts';

const env = parseEnvOrExit(() => parsePlannerEnv());
const runtime = await createWorkerRuntime('planner-worker', env);
const pack = await loadModelPack(env.MODEL_PACK_PATH);
const execution = {
  executionProvider: env.EXECUTION_PROVIDER,
  intraOpThreads: env.INTRA_OP_THREADS,
  interOpThreads: env.INTER_OP_THREADS,
  cudaDeviceId: env.CUDA_DEVICE_ID,
};
const planner = await Planner.load(pack, execution);
// The preview model is small: it always runs on CPU beside the planner.
const preview = await PreviewRenderer.load(pack, { executionProvider: 'cpu' });
runtime.onClose(async () => {
  await planner.close();
  await preview?.close();
});
const decodeQueue = runtime.openQueue<DecodeJobData>('decode');

await serveQueue<PlanJobData>(runtime, 'plan', (job, token) =>
  runPlanJob({ ...runtime, planner, preview, decodeQueue }, job, token),
);
