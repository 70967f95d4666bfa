/**
 * What a worker process holds: its connections, the generation lifecycle (store,
 * metrics and webhooks together), the object store, and an ordered list of cleanups.
 * Both worker apps are this plus their own job function and model runtime.
 */
import type { WorkerEnv } from '@glm-image/shared/env';
import { EvaluationRequests } from '@glm-image/shared/evaluations';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { keyPrefixOf } from '@glm-image/shared/keys';
import { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { ServiceMetrics } from '@glm-image/shared/metrics';
import {
  createQueue,
  type EvaluateJobData,
  type QueueKind,
  type QueueSettings,
  queueSettingsFromEnv,
} from '@glm-image/shared/queues';
import { closeRedis, createRedis, type RedisClient } from '@glm-image/shared/redis';
import { ObjectStore, objectStoreConfigFromEnv } from '@glm-image/shared/storage';
import { initTracing } from '@glm-image/shared/tracing';
import { type WebhookJobData, WebhookNotifier } from '@glm-image/shared/webhooks/notifier';
import type { Queue } from 'bullmq';
import { type Logger, pino } from 'pino';
import type { GenerationJobContext } from './generation-job.ts';

export interface WorkerRuntime extends GenerationJobContext {
  service: string;
  env: WorkerEnv;
  log: Logger;
  redis: RedisClient;
  objects: ObjectStore;
  metrics: ServiceMetrics;
  queueSettings: QueueSettings;
  /** Queues this process adds to; closed with the runtime. */
  openQueue<Data>(kind: QueueKind): Queue<Data>;
  /** Extra cleanup (model runtimes), run before the connections close. */
  onClose(fn: () => Promise<void>): void;
  /** Runs every cleanup step, latest registered first, each on its own; safe to call twice. */
  close(): Promise<void>;
}

export async function createWorkerRuntime(service: string, env: WorkerEnv): Promise<WorkerRuntime> {
  const log = pino({ name: service, level: env.LOG_LEVEL });
  const tracing = initTracing({
    serviceName: service,
    ...(env.OTEL_EXPORTER_OTLP_ENDPOINT ? { endpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
  });
  // Jobs' own reads and writes wait out a Redis restart, as BullMQ's commands do: failing
  // them after a few reconnects would spend the generation's attempts on an outage.
  const redis = createRedis(env.REDIS_URL, {
    forWorker: true,
    waitOutClusterDown: true,
    connectionName: service,
  });
  const queueSettings = queueSettingsFromEnv(env);
  const keyPrefix = keyPrefixOf(queueSettings.prefix);
  const store = new GenerationStore(redis, { keyPrefix, retentionSeconds: env.RETENTION_SECONDS });
  const objects = new ObjectStore(objectStoreConfigFromEnv(env));
  // A registry per runtime, so that two workers in one process (tests) keep apart.
  const metrics = new ServiceMetrics({ service });
  const queues: Queue[] = [];
  const closers: Array<() => Promise<void>> = [];
  const openQueue = <Data>(kind: QueueKind): Queue<Data> => {
    const queue = createQueue<Data>(kind, redis, queueSettings);
    queues.push(queue as Queue);
    return queue;
  };
  const webhooks = new WebhookNotifier(openQueue<WebhookJobData>('webhook'), {
    keyPrefix,
    retentionSeconds: env.RETENTION_SECONDS,
    log,
  });
  closers.push(async () => {
    for (const queue of queues) await queue.close().catch(() => undefined);
    await closeRedis(redis);
    objects.close();
    await tracing.shutdown();
  });
  return {
    service,
    env,
    log,
    redis,
    objects,
    metrics,
    queueSettings,
    lifecycle: new GenerationLifecycle({
      store,
      metrics,
      webhooks,
      evaluations: new EvaluationRequests(openQueue<EvaluateJobData>('evaluate')),
      log,
    }),
    running: new Set(),
    openQueue,
    onClose: (fn) => closers.push(fn),
    close: async () => {
      for (const close of closers.splice(0).reverse()) {
        try {
          await close();
        } catch (error) {
          log.warn({ err: (error as Error).message }, 'cleanup step failed');
        }
      }
    },
  };
}
