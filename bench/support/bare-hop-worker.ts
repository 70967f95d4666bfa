/**
 * The baseline of the pipeline benchmark: a BullMQ worker doing nothing but what a stage
 * must do to pass a job on. On `plan` it adds the job's `decode` job (as the planner
 * does, with the same fixed job id); on `decode` it does nothing. Same queue settings,
 * job options and worker settings as the application's workers, from the same catalog.
 *
 *   QUEUE=plan|decode REDIS_URL=... node --import tsx bench/support/bare-hop-worker.ts
 */
import { parseDecoderEnv, parsePlannerEnv } from '@glm-image/shared/env';
import {
  createQueue,
  createWorker,
  decodeJobId,
  queueSettingsFromEnv,
  workerSettingsFromEnv,
} from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { MAX_STALLED_COUNT } from '@glm-image/worker-runtime';

const kind = (process.env as Record<string, string | undefined>).QUEUE === 'decode' ? 'decode' : 'plan';
const env = kind === 'plan' ? parsePlannerEnv() : parseDecoderEnv();
const settings = queueSettingsFromEnv(env);
const redis = createRedis(env.REDIS_URL, { forWorker: true });
const producer = createRedis(env.REDIS_URL);
const decodeQueue = createQueue<{ generationId: string }>('decode', producer, settings);
const worker = createWorker<{ generationId: string }>(
  kind,
  async (job) => {
    if (kind === 'plan') {
      const id = job.data.generationId;
      await decodeQueue.add('decode', { generationId: id }, { jobId: decodeJobId(id) });
    }
  },
  redis,
  settings,
  { ...workerSettingsFromEnv(env), maxStalledCount: MAX_STALLED_COUNT },
);
worker.on('error', (error) => console.error(error.message));
const stop = async () => {
  await worker.close();
  await decodeQueue.close();
  await closeRedis(redis);
  await closeRedis(producer);
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
console.log(`bare ${kind} worker started`);
