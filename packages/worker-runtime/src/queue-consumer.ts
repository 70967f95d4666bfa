/**
 * Consumes one queue of the catalog with a BullMQ Worker, beside the health and metrics
 * port. `stop()` is the graceful shutdown: readiness turns 503, no new job is taken, jobs
 * still waiting to begin their model work are handed back at once, the running ones get
 * SHUTDOWN_GRACE_MS to finish, after which they are stopped at their next model step and
 * handed back to the queue; then everything closes.
 */
import { registerQueueMetrics } from '@glm-image/shared/metrics';
import { createWorker, type QueueKind, workerSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import type { Job } from 'bullmq';
import { failGenerationIfJobIsOver } from './generation-job.ts';
import { JobRuns } from './job-reruns.ts';
import { startWorkerHttpServer } from './worker-http.ts';
import type { WorkerRuntime } from './worker-runtime.ts';

/** A job may outlive two lost workers before BullMQ gives up on it (then it fails as worker_lost). */
export const MAX_STALLED_COUNT = 2;

export interface StageWorker {
  /** Where /metrics, /healthz and /readyz answer. */
  readonly metricsUrl: string;
  /** The graceful shutdown; resolves once everything is closed. Safe to call twice. */
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /**
   * Whether a job that fails for good fails its generation (default true: the stages'
   * jobs). False for work that comes after the generation ended (scoring), whose failure
   * is logged and leaves the generation as it is.
   */
  failsGeneration?: boolean;
}

export async function consumeQueue<Data>(
  runtime: WorkerRuntime,
  kind: QueueKind,
  processor: (job: Job<Data>, token?: string) => Promise<void>,
  options: ConsumeOptions = {},
): Promise<StageWorker> {
  const { env, log } = runtime;
  const connection = createRedis(env.REDIS_URL, { forWorker: true, connectionName: `${kind}-worker` });
  const settings = workerSettingsFromEnv(env);
  const runs = new JobRuns({
    lockDurationMs: settings.lockDurationMs,
    lockRenewMs: settings.lockRenewMs,
    log,
  });
  const worker = createWorker<Data>(
    kind,
    (job, token) => runs.run(job, token, () => processor(job, token)),
    connection,
    runtime.queueSettings,
    { ...settings, maxStalledCount: MAX_STALLED_COUNT },
  );
  worker.on('error', (error) => log.error({ err: error.message }, 'worker error'));
  worker.on('failed', (job, error) => {
    if (!job) return;
    if (options.failsGeneration === false) {
      log.warn({ job_id: job.id, attempts: job.attemptsMade, err: error.message }, 'job attempt failed');
    } else {
      recordFailedAttempt(runtime, job, error);
    }
  });

  registerQueueMetrics(runtime.metrics.registry, [runtime.openQueue(kind)]);
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

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    log.info({ grace_ms: env.SHUTDOWN_GRACE_MS }, 'shutting down');
    http.setDraining();
    // Jobs that have not begun their model work hand themselves back now.
    for (const job of runtime.running) job.drain?.();
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
  };
  return {
    metricsUrl: http.url,
    stop: () => {
      stopping ??= stop();
      return stopping;
    },
  };
}

/**
 * After BullMQ has moved a job on from a failed attempt: logs it, and when BullMQ gave up
 * on the job (attempts used, or stalled too often) fails its generation if nothing has.
 */
export function recordFailedAttempt(runtime: WorkerRuntime, job: Job, error: Error): void {
  runtime.log.warn({ job_id: job.id, attempts: job.attemptsMade, err: error.message }, 'job attempt failed');
  failGenerationIfJobIsOver(runtime.lifecycle, job as Job<{ generationId: string }>, MAX_STALLED_COUNT).catch(
    (failure: unknown) =>
      runtime.log.error(
        { job_id: job.id, err: (failure as Error).message },
        'could not record the failed generation',
      ),
  );
}

/** For a worker's main.ts: SIGTERM or SIGINT stops it gracefully, then the process exits 0. */
export function stopOnSignals(worker: StageWorker): void {
  const stop = () => {
    worker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
