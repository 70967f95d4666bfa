/**
 * Consumes one queue holding up to `maxJobs` jobs at once, fetched by hand (BullMQ's
 * manual fetching, `worker.getNextJob`), for a model that decodes every job it holds in
 * one continuous batch. A job is fetched the moment a slot is free, while the others keep
 * running, and each job ends on its own.
 *
 * BullMQ renews locks and looks for stalled jobs only for workers it runs itself, so in
 * this mode both happen here: every held job's lock is extended in one call per interval,
 * and the worker's stalled-job checker is started by hand. A job whose workers died more
 * than MAX_STALLED_COUNT times is failed by whichever fetch takes it next (BullMQ's
 * deferred failure, done inside `getNextJob`); the worker's `failed` event then fails the
 * generation as `worker_lost`.
 *
 * `stop()` keeps the queue consumer's graceful shutdown: readiness turns 503, no job is
 * fetched any more (one fetched at that moment goes straight back), the held jobs get
 * SHUTDOWN_GRACE_MS to finish and are then stopped at their next model step and handed
 * back without spending an attempt; then everything closes.
 */
import { registerQueueMetrics } from '@glm-image/shared/metrics';
import { createWorker, type QueueKind, workerSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import type { Job } from 'bullmq';
import { MAX_STALLED_COUNT, recordFailedAttempt, type StageWorker } from './queue-consumer.ts';
import { startWorkerHttpServer, type WorkerHttpServer } from './worker-http.ts';
import type { WorkerRuntime } from './worker-runtime.ts';

/**
 * Longest one fetch blocks waiting for a job, in seconds: how long a shutdown may wait
 * for the fetch in flight. Cheap: an idle worker asks Redis once a second.
 */
const FETCH_BLOCK_SECONDS = 1;

interface HeldJob {
  token: string;
  /** Past the processor: its lock is no longer renewed. */
  finishing: boolean;
  ended: Promise<void>;
}

export async function consumeQueueInBatches<Data>(
  runtime: WorkerRuntime,
  kind: QueueKind,
  maxJobs: number,
  processor: (job: Job<Data>, token: string) => Promise<void>,
): Promise<StageWorker> {
  const { env, log } = runtime;
  const settings = workerSettingsFromEnv(env);
  const connection = createRedis(env.REDIS_URL, { forWorker: true, connectionName: `${kind}-worker` });
  const worker = createWorker<Data>(kind, null, connection, runtime.queueSettings, {
    ...settings,
    concurrency: maxJobs,
    maxStalledCount: MAX_STALLED_COUNT,
    autorun: false,
    drainDelaySeconds: FETCH_BLOCK_SECONDS,
  });
  worker.on('error', (error) => log.error({ err: error.message }, 'worker error'));
  // Emitted here only for jobs that getNextJob fails itself: those that stalled too often.
  worker.on('failed', (job, error) => {
    if (job) recordFailedAttempt(runtime, job, error);
  });

  const held = new Map<string, HeldJob>();
  let draining = false;
  let wakeFetcher: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    wakeFetcher = resolve;
  });

  const hold = (job: Job<Data>, token: string) => {
    const entry: HeldJob = { token, finishing: false, ended: Promise.resolve() };
    entry.ended = (async () => {
      let failure: { error: Error } | null = null;
      try {
        await processor(job, token);
      } catch (error) {
        failure = { error: error as Error };
      }
      entry.finishing = true;
      try {
        if (!failure) {
          await job.moveToCompleted(null, token, false);
        } else if (failure.error?.name !== 'DelayedError') {
          // DelayedError: the job was handed back (shutdown) and is the queue's again.
          await job.moveToFailed(failure.error, token, false);
          recordFailedAttempt(runtime, job, failure.error);
        }
      } catch (error) {
        // Lock lost or Redis away: the job stays active without a lock, and the
        // stalled-job check hands it out again.
        log.error({ job_id: job.id, err: (error as Error).message }, 'could not move the job on');
      } finally {
        // Only this hold's entry: a job whose lock was lost may be held again meanwhile.
        if (held.get(job.id!) === entry) held.delete(job.id!);
      }
    })();
    held.set(job.id!, entry);
  };

  const fetchLoop = async () => {
    let tokens = 0;
    let failures = 0;
    while (!draining) {
      if (held.size >= maxJobs) {
        await Promise.race([stopped, ...[...held.values()].map((h) => h.ended)]);
        continue;
      }
      const token = `${worker.id}:${tokens++}`;
      let job: Job<Data> | undefined;
      try {
        job = await worker.getNextJob(token, { block: true });
        failures = 0;
      } catch (error) {
        failures += 1;
        log.error({ err: (error as Error).message }, 'could not fetch a job');
        const backoff = new Promise((resolve) => setTimeout(resolve, Math.min(5000, 100 * 2 ** failures)));
        await Promise.race([stopped, backoff]);
        continue;
      }
      if (!job) continue;
      if (draining) {
        await job.moveToDelayed(Date.now(), token).catch((error: unknown) => {
          log.error({ job_id: job.id, err: (error as Error).message }, 'could not hand the job back');
        });
        break;
      }
      hold(job, token);
    }
  };

  const renewLocks = async () => {
    const ids = [...held].filter(([, h]) => !h.finishing).map(([id]) => id);
    if (ids.length === 0) return;
    try {
      const tokens = ids.map((id) => held.get(id)?.token ?? '');
      const lost = await worker.extendJobLocks(ids, tokens, settings.lockDurationMs);
      const stillHeld = lost.filter((id) => held.has(id) && !held.get(id)?.finishing);
      if (stillHeld.length > 0) {
        log.warn({ job_ids: stillHeld }, 'lost the lock of held jobs: another worker may run them');
      }
    } catch (error) {
      log.warn({ err: (error as Error).message }, 'could not renew job locks');
    }
  };
  registerQueueMetrics(runtime.metrics.registry, [runtime.openQueue(kind)]);
  let http: WorkerHttpServer;
  try {
    http = await startWorkerHttpServer({
      port: env.METRICS_PORT,
      host: env.HOST,
      registry: runtime.metrics.registry,
      health: async () => {
        await runtime.redis.ping();
        return { ok: !draining, detail: { running_jobs: held.size, max_jobs: maxJobs } };
      },
    });
  } catch (error) {
    await worker.close();
    await closeRedis(connection);
    throw error;
  }

  await worker.startStalledCheckTimer();
  const fetching = fetchLoop();
  // Every LOCK_RENEW_MS, well inside the lock: a renewal delayed by a busy machine still
  // lands in time.
  let renewing = Promise.resolve();
  const renewal = setInterval(() => {
    renewing = renewing.then(renewLocks);
  }, settings.lockRenewMs);
  log.info(
    { queue: runtime.queueSettings.names[kind], max_jobs: maxJobs, metrics: http.url },
    'worker started',
  );

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    log.info({ grace_ms: env.SHUTDOWN_GRACE_MS }, 'shutting down');
    http.setDraining();
    draining = true;
    wakeFetcher();
    const grace = setTimeout(() => {
      log.warn({ running_jobs: held.size }, 'grace period over: handing running jobs back');
      for (const job of runtime.running) job.shutdown();
    }, env.SHUTDOWN_GRACE_MS);
    try {
      await fetching;
      while (held.size > 0) await Promise.all([...held.values()].map((h) => h.ended));
    } finally {
      clearTimeout(grace);
      clearInterval(renewal);
      await renewing;
    }
    await worker.close();
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
