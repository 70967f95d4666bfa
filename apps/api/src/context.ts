import type { ApiEnv } from '@glm-image/shared/env';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { type MetricsQueue, registerQueueMetrics, ServiceMetrics } from '@glm-image/shared/metrics';
import {
  createDecodeQueue,
  createPlanQueue,
  type DecodeJobData,
  type PlanJobData,
  queueSettingsFromEnv,
} from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { ObjectStore, objectStoreConfigFromEnv } from '@glm-image/shared/storage';
import {
  parseWebhookAllowList,
  SsrfGuard,
  type WebhookResolver,
} from '@glm-image/shared/webhooks/ssrf-guard';
import type { JobType, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { loadModelLimits, type ModelLimits } from './model-limits.ts';
import { KeyRegistry } from './plugins/auth.ts';
import { type CancelNotifier, createCancelNotifier } from './services/cancel-notifier.ts';
import { InFlightQuota } from './services/in-flight-quota.ts';
import { WebhookTargetCheck } from './services/webhook-targets.ts';

/**
 * Everything the app talks to, built once per process from the parsed environment and
 * handed to the app plugin. Tests build it against their own Redis and S3 servers.
 */
export interface ApiContext {
  env: ApiEnv;
  redis: Redis;
  /** Key prefix of the API's own Redis keys (idempotency, in-flight sets, rate limits). */
  keyPrefix: string;
  store: GenerationStore;
  planQueue: Queue<PlanJobData>;
  decodeQueue: Queue<DecodeJobData>;
  objects: ObjectStore;
  limits: ModelLimits;
  keys: KeyRegistry;
  inFlight: InFlightQuota;
  metrics: ServiceMetrics;
  /** Sends `generation.canceled` webhooks for cancels the API completes itself. */
  canceled: CancelNotifier;
  /** Refuses webhook URLs that could never be delivered to, before a generation is accepted. */
  webhookTargets: WebhookTargetCheck;
  close(): Promise<void>;
}

export interface ApiContextOverrides {
  limits?: ModelLimits;
  /** Resolves webhook host names; tests answer from a table so no lookup leaves the machine. */
  webhookResolver?: WebhookResolver;
}

export async function createApiContext(
  env: ApiEnv,
  overrides: ApiContextOverrides = {},
): Promise<ApiContext> {
  // The same prefix the workers' GenerationStore uses (`{glm}:` by default), hash tag included.
  const keyPrefix = `${env.QUEUE_PREFIX}:`;
  const storeOptions = { keyPrefix, retentionSeconds: env.RETENTION_SECONDS };
  const limits = overrides.limits ?? (await loadModelLimits(env.MODEL_PACK_PATH));
  const redis = createRedis(env.REDIS_URL, { connectionName: 'api' });
  const store = new GenerationStore(redis, storeOptions);
  const queueSettings = queueSettingsFromEnv(env);
  const planQueue = createPlanQueue(redis, queueSettings);
  const decodeQueue = createDecodeQueue(redis, queueSettings);
  const objects = new ObjectStore(objectStoreConfigFromEnv(env));
  const metrics = new ServiceMetrics({ service: 'api' });
  registerQueueMetrics(metrics.registry, [metricsView(planQueue), metricsView(decodeQueue)]);
  const canceled = createCancelNotifier(env, redis, queueSettings, objects, keyPrefix);
  const webhookGuard = new SsrfGuard({
    allowList: parseWebhookAllowList(env.WEBHOOK_ALLOWLIST),
    ...(overrides.webhookResolver ? { resolver: overrides.webhookResolver } : {}),
  });
  let closed = false;

  return {
    env,
    redis,
    keyPrefix,
    store,
    planQueue,
    decodeQueue,
    objects,
    limits,
    keys: new KeyRegistry(env.API_KEYS, env.DEV_API_KEY),
    inFlight: new InFlightQuota(redis, keyPrefix, store, env.RETENTION_SECONDS),
    metrics,
    canceled,
    webhookTargets: new WebhookTargetCheck(webhookGuard),
    async close() {
      if (closed) return;
      closed = true;
      const steps = [
        () => planQueue.close(),
        () => decodeQueue.close(),
        () => canceled.close(),
        () => objects.close(),
        () => closeRedis(redis),
      ];
      for (const step of steps) {
        try {
          await step();
        } catch {
          // Keep closing the rest: one failed step must not leak the others.
        }
      }
    },
  };
}

/** BullMQ types job states as a union; the metrics module takes plain strings. */
function metricsView(queue: Queue): MetricsQueue {
  return {
    name: queue.name,
    getJobCounts: (...types) => queue.getJobCounts(...(types as JobType[])),
    getJobs: (types, start, end, asc) => queue.getJobs(types as JobType[], start, end, asc),
  };
}
