/** The decoder worker process: consumes `decode`, renders, stores and completes generations. */
import { Decoder, loadModelPack } from '@glm-image/inference';
import { parseDecoderEnv, parseEnvOrExit } from '@glm-image/shared/env';
import type { DecodeJobData } from '@glm-image/shared/queues';
import { createWorkerRuntime, serveQueue } from '@glm-image/shared/worker-runtime';
import { runDecodeJob } from './decode-job.ts';

const env = parseEnvOrExit(() => parseDecoderEnv());
const runtime = await createWorkerRuntime('decoder-worker', env);
const pack = await loadModelPack(env.MODEL_PACK_PATH);
const decoder = await Decoder.load(pack, {
  executionProvider: env.EXECUTION_PROVIDER,
  intraOpThreads: env.INTRA_OP_THREADS,
  interOpThreads: env.INTER_OP_THREADS,
  cudaDeviceId: env.CUDA_DEVICE_ID,
});
runtime.onClose(() => decoder.close());

await serveQueue<DecodeJobData>(runtime, 'decode', (job, token) =>
  runDecodeJob({ ...runtime, decoder }, job, token),
);
