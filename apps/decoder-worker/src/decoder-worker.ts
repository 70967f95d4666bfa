/**
 * The decoder worker: consumes `decode`, renders, stores and completes generations.
 * A factory, so that tests run it in-process against their own Redis and S3.
 */
import { Decoder, loadModelPack } from '@glm-image/inference';
import type { DecoderEnv } from '@glm-image/shared/env';
import type { ObjectStore } from '@glm-image/shared/storage';
import {
  consumeQueue,
  createWorkerRuntime,
  executionOptionsFromEnv,
  type StageWorker,
} from '@glm-image/worker-runtime';
import { runDecodeJob } from './decode-job.ts';

/** Parts a test may supply in place of the runtime's own (an object store that holds uploads back). */
export interface DecoderWorkerParts {
  objects?: ObjectStore;
}

export async function createDecoderWorker(
  env: DecoderEnv,
  parts: DecoderWorkerParts = {},
): Promise<StageWorker> {
  const runtime = await createWorkerRuntime('decoder-worker', env);
  try {
    const decoder = await Decoder.load(
      await loadModelPack(env.MODEL_PACK_PATH),
      executionOptionsFromEnv(env),
    );
    runtime.onClose(() => decoder.close());
    return await consumeQueue(runtime, 'decode', (job, token) =>
      runDecodeJob(
        { ...runtime, decoder, storageUnavailableAfterMs: env.STORAGE_UNAVAILABLE_AFTER_MS, ...parts },
        job,
        token,
      ),
    );
  } catch (error) {
    await runtime.close();
    throw error;
  }
}
