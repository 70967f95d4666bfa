/**
 * What the API talks to, as decorators: one Redis connection (shared by the store, the
 * queues and the API's own keys), the generation store and lifecycle, the plan and
 * decode queues, the object store, metrics and the model pack's limits. Built once from
 * the parsed environment when the app starts; closed, each step on its own, when it stops.
 */
import { EvaluationRequests } from '@glm-image/shared/evaluations';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { keyPrefixOf, type RedisKeys } from '@glm-image/shared/keys';
import { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { type MetricsQueue, registerQueueMetrics } from '@glm-image/shared/metrics';
import {
  createDecodeQueue,
  createPlanQueue,
  createQueue,
  type DecodeJobData,
  type EvaluateJobData,
  type PlanJobData,
  type QueueSettings,
  queueSettingsFromEnv,
} from '@glm-image/shared/queues';
import { closeRedis, createRedis, type RedisClient } from '@glm-image/shared/redis';
import { ObjectStore, objectStoreConfigFromEnv } from '@glm-image/shared/storage';
import { type WebhookJobData, WebhookNotifier } from '@glm-image/shared/webhooks/notifier';
import type { JobType, Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiEnv } from '../env.ts';
import { ApiMetrics } from '../metrics.ts';
import { loadModelLimits, type ModelLimits } from '../model-limits.ts';

export interface ApiQueues {
  plan: Queue<PlanJobData>;
  decode: Queue<DecodeJobData>;
  settings: QueueSettings;
}

declare module 'fastify' {
  interface FastifyInstance {
    env: ApiEnv;
    redis: RedisClient;
    keys: RedisKeys;
    store: GenerationStore;
    lifecycle: GenerationLifecycle;
    queues: ApiQueues;
    objects: ObjectStore;
    metrics: ApiMetrics;
    limits: ModelLimits;
  }
}

export interface InfrastructureOptions {
  env: ApiEnv;
  /** The pack's limits when the caller has them already (tests); else read from MODEL_PACK_PATH. */
  limits?: ModelLimits;
}

async function infrastructure(app: FastifyInstance, options: InfrastructureOptions): Promise<void> {
  const { env } = options;
  const limits = options.limits ?? (await loadModelLimits(env.MODEL_PACK_PATH));
  const keyPrefix = keyPrefixOf(env.QUEUE_PREFIX);
  const redis = createRedis(env.REDIS_URL, { connectionName: 'api' });
  const store = new GenerationStore(redis, { keyPrefix, retentionSeconds: env.RETENTION_SECONDS });
  const settings = queueSettingsFromEnv(env);
  const plan = createPlanQueue(redis, settings);
  const decode = createDecodeQueue(redis, settings);
  const webhookQueue = createQueue<WebhookJobData>('webhook', redis, settings);
  const evaluateQueue = createQueue<EvaluateJobData>('evaluate', redis, settings);
  const objects = new ObjectStore(objectStoreConfigFromEnv(env));
  const metrics = new ApiMetrics();
  registerQueueMetrics(metrics.registry, [
    metricsView(plan),
    metricsView(decode),
    metricsView(evaluateQueue),
  ]);
  const webhooks = new WebhookNotifier(webhookQueue, {
    keyPrefix,
    retentionSeconds: env.RETENTION_SECONDS,
    log: app.log,
  });

  app.decorate('env', env);
  // Named: a union (one server or a cluster) is not inferred through decorate's overloads.
  app.decorate<RedisClient>('redis', redis);
  app.decorate('keys', store.keys);
  app.decorate('store', store);
  const evaluations = new EvaluationRequests(evaluateQueue);
  app.decorate('lifecycle', new GenerationLifecycle({ store, metrics, webhooks, evaluations, log: app.log }));
  app.decorate('queues', { plan, decode, settings });
  app.decorate('objects', objects);
  app.decorate('metrics', metrics);
  app.decorate('limits', limits);

  app.addHook('onClose', async () => {
    const steps = [
      () => plan.close(),
      () => decode.close(),
      () => webhookQueue.close(),
      () => evaluateQueue.close(),
      async () => objects.close(),
      () => closeRedis(redis),
    ];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        // Keep closing the rest: one failed step must not leak the others.
        app.log.warn({ err: error }, 'cleanup step failed');
      }
    }
  });
}

/** BullMQ types job states as a union; the metrics module takes plain strings. */
function metricsView(queue: Queue): MetricsQueue {
  return {
    name: queue.name,
    getJobCounts: (...types) => queue.getJobCounts(...(types as JobType[])),
    getJobs: (types, start, end, asc) => queue.getJobs(types as JobType[], start, end, asc),
  };
}

export default fp(infrastructure, { name: 'infrastructure' });
