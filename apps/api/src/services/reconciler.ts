/**
 * Finds generations that were stored but whose first job never reached its queue (an
 * API process that died between the two) and settles them without waiting for anyone to
 * read them: a plan is queued again, under the same job id, with the tenant's priority
 * stored on the record; a re-render, whose tokens are not at hand here, is failed
 * visibly, with its metric and webhook, through the lifecycle.
 *
 * The store indexes every generation as awaiting its first job until admission confirms
 * the job, so a pass reads only those: its cost follows the stranded, not the backlog.
 * Any replica may run one; a Redis lock lets one of them work per interval.
 */
import type { GenerationStore } from '@glm-image/shared/generation-store';
import type { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import type { RedisClient } from '@glm-image/shared/redis';
import type { JobEnqueuer } from './job-enqueuer.ts';

export interface ReconcilerOptions {
  redis: RedisClient;
  store: GenerationStore;
  lifecycle: GenerationLifecycle;
  jobs: JobEnqueuer;
  /** A generation younger than this may still be on its way to the queue. */
  strandedAfterMs: number;
  /** Time between passes. */
  intervalMs: number;
  /** Generations settled per pass at most; the rest wait for the next. Default: 500. */
  batchSize?: number;
  log?: { warn(obj: object, msg: string): void };
  /** The clock; tests inject their own. */
  now?: () => number;
}

export interface PassResult {
  requeued: number;
  failed: number;
  /** Records whose job turned out to exist, or that had moved on or expired. */
  settled: number;
}

export interface Reconciler {
  /** One pass now, if no other replica holds the lock (null). */
  reconcileOnce(): Promise<PassResult | null>;
  stop(): void;
}

export function startReconciler(options: ReconcilerOptions): Reconciler {
  const now = options.now ?? Date.now;
  const batchSize = options.batchSize ?? 500;
  const lockKey = options.store.keys.reconcilerLock;

  const reconcileOnce = async (): Promise<PassResult | null> => {
    // The lock outlives the pass on purpose: it spaces passes across replicas.
    const lockMs = Math.max(1000, options.intervalMs - 500);
    if ((await options.redis.set(lockKey, String(process.pid), 'PX', lockMs, 'NX')) !== 'OK') return null;
    const result: PassResult = { requeued: 0, failed: 0, settled: 0 };
    const ids = await options.store.awaitingEnqueue(now() - options.strandedAfterMs, batchSize);
    for (const id of ids) {
      const record = await options.store.get(id);
      if (record?.status !== 'queued' || (await options.jobs.hasFirstJob(record))) {
        await options.store.confirmEnqueued(id);
        result.settled += 1;
      } else if (record.input.source_generation_id) {
        await options.lifecycle.fail(id, {
          code: 'service_unavailable',
          message: 'The re-render was never queued; request it again',
        });
        result.failed += 1;
      } else {
        await options.jobs.enqueuePlan(record);
        await options.store.confirmEnqueued(id);
        result.requeued += 1;
      }
    }
    // Worth a warning: each one was left behind by an API process that died mid-request.
    if (result.requeued + result.failed > 0) options.log?.warn({ ...result }, 'stranded generations settled');
    return result;
  };

  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reconcileOnce()
      .catch((error: unknown) =>
        options.log?.warn({ err: (error as Error).message }, 'reconcile pass failed; retrying next interval'),
      )
      .finally(() => {
        running = false;
      });
  }, options.intervalMs);
  timer.unref();
  return { reconcileOnce, stop: () => clearInterval(timer) };
}
