/**
 * The process around a queue worker: connections, metrics and health endpoints, and a
 * graceful shutdown that finishes or hands back the running job within a grace period.
 * Both worker apps are this plus their own job function and model runtime.
 */
import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import type { DecoderEnv, PlannerEnv } from './env.ts';
import { failGenerationIfJobIsOver, type GenerationJobContext } from './generation-job.ts';
import { GenerationStore } from './generation-store.ts';
import { toPublicGeneration } from './generation-view.ts';
import { getMetrics, registerQueueMetrics, type ServiceMetrics } from './metrics.ts';
import {
  createQueue,
  createWorker,
  type QueueKind,
  type QueueSettings,
  queueSettingsFromEnv,
  workerSettingsFromEnv,
} from './queues.ts';
import { closeRedis, createRedis } from './redis.ts';
import { ObjectStore, objectStoreConfigFromEnv } from './storage.ts';
import { initTracing } from './tracing.ts';
import { type WebhookJobData, WebhookNotifier } from './webhooks/notifier.ts';
import { startWorkerHttpServer } from './worker-http.ts';

type WorkerEnv = PlannerEnv | DecoderEnv;

export interface WorkerRuntime extends GenerationJobContext {
  env: WorkerEnv;
  log: Logger;
  redis: Redis;
  objects: ObjectStore;
  queueSettings: QueueSettings;
  /** Queues this process adds to; closed on shutdown. */
  openQueue<Data>(kind: QueueKind): Queue<Data>;
  /** Extra cleanup (model runtimes), run after the worker stopped taking jobs. */
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
  const redis = createRedis(env.REDIS_URL, { connectionName: service });
  const queueSettings = queueSettingsFromEnv(env);
  const keyPrefix = `${queueSettings.prefix}:`;
  const store = new GenerationStore(redis, { keyPrefix, retentionSeconds: env.RETENTION_SECONDS });
  const objects = new ObjectStore(objectStoreConfigFromEnv(env));
  const metrics: ServiceMetrics = getMetrics({ service });
  const queues: Queue[] = [];
  const closers: Array<() => Promise<void>> = [];
  const openQueue = <Data>(kind: QueueKind): Queue<Data> => {
    const queue = createQueue<Data>(kind, redis, queueSettings);
    queues.push(queue as Queue);
    return queue;
  };
  const webhookQueue = openQueue<WebhookJobData>('webhook');
  const notifier = new WebhookNotifier(
    webhookQueue,
    (record) => toPublicGeneration(record, { baseUrl: env.PUBLIC_API_URL, objects }),
    { keyPrefix, retentionSeconds: env.RETENTION_SECONDS, log },
  );
  const runtime: WorkerRuntime = {
    env,
    log,
    redis,
    store,
    objects,
    metrics,
    queueSettings,
    running: new Set(),
    announce: async (record, event) => {
      try {
        await notifier.notify(record, event);
      } catch (error) {
        log.error(
          { generation_id: record.id, event, err: (error as Error).message },
          'webhook enqueue failed',
        );
      }
    },
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
  closers.push(async () => {
    for (const queue of queues) await queue.close().catch(() => undefined);
    await closeRedis(redis);
    objects.close();
    await tracing.shutdown();
  });
  return runtime;
}

/**
 * Consumes `kind` until SIGTERM/SIGINT. On a signal: readiness turns 503, no new job is
 * taken, the running one gets `SHUTDOWN_GRACE_MS` to finish, after which it is stopped at
 * its next model step and handed back to the queue; then everything closes and the
 * process exits 0.
 */
export async function serveQueue<Data>(
  runtime: WorkerRuntime,
  kind: QueueKind,
  processor: (job: Job<Data>, token?: string) => Promise<void>,
): Promise<void> {
  const { env, log } = runtime;
  const connection = createRedis(env.REDIS_URL, { forWorker: true, connectionName: `${kind}-worker` });
  const settings = workerSettingsFromEnv(env);
  // A job may outlive two lost workers before BullMQ gives up on it (then it fails as worker_lost).
  const worker = createWorker<Data>(kind, processor, connection, runtime.queueSettings, {
    ...settings,
    maxStalledCount: 2,
  });
  worker.on('error', (error) => log.error({ err: error.message }, 'worker error'));
  worker.on('failed', (job, error) => {
    log.warn({ job_id: job?.id, attempts: job?.attemptsMade, err: error.message }, 'job attempt failed');
    if (!job) return;
    failGenerationIfJobIsOver(runtime, job as Job<{ generationId: string }>, error).catch(
      (failure: unknown) =>
        log.error(
          { job_id: job.id, err: (failure as Error).message },
          'could not record the failed generation',
        ),
    );
  });

  const monitored = runtime.openQueue(kind);
  registerQueueMetrics(runtime.metrics.registry, [monitored]);
  const http = await startWorkerHttpServer({
    port: env.METRICS_PORT,
    host: env.HOST,
    registry: runtime.metrics.registry,
    health: async () => {
      await runtime.redis.ping();
      return { ok: worker.isRunning(), detail: { running_jobs: runtime.running.size } };
    },
  });
  log.info({ queue: runtime.queueSettings.names[kind], metrics: http.url }, 'worker started');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal, grace_ms: env.SHUTDOWN_GRACE_MS }, 'shutting down');
    http.setDraining();
    const grace = setTimeout(() => {
      log.warn({ running_jobs: runtime.running.size }, 'grace period over: handing running jobs back');
      for (const job of runtime.running) job.shutdown();
    }, env.SHUTDOWN_GRACE_MS);
    try {
      await worker.close();
    } finally {
      clearTimeout(grace);
    }
    await closeRedis(connection);
    await http.close();
    await runtime.close();
    log.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
