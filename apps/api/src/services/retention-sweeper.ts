/**
 * Objects expire like records do. Redis forgets a generation after RETENTION_SECONDS on
 * its own; its images, preview and tokens are deleted here. Any API replica may run
 * a sweeper: a Redis lock lets one of them sweep per interval. Where the bucket has a
 * lifecycle rule of its own this finds nothing to do.
 */
import type { RedisKeys } from '@glm-image/shared/keys';
import type { RedisClient } from '@glm-image/shared/redis';
import type { ObjectStore } from '@glm-image/shared/storage';
import { GENERATIONS_PREFIX } from '@glm-image/shared/storage';

export interface RetentionSweeperOptions {
  redis: RedisClient;
  objects: ObjectStore;
  /** Where the lock lives. */
  keys: RedisKeys;
  retentionSeconds: number;
  /** Time between sweeps. Default: one hour. */
  intervalMs?: number;
  log?: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
}

export interface RetentionSweeper {
  /** One sweep now, if no other process holds the lock; resolves to the objects deleted (null: lock held elsewhere). */
  sweepOnce(now?: Date): Promise<number | null>;
  stop(): void;
}

export function startRetentionSweeper(options: RetentionSweeperOptions): RetentionSweeper {
  const intervalMs = options.intervalMs ?? 3_600_000;
  const lockKey = options.keys.retentionSweepLock;
  const sweepOnce = async (now = new Date()): Promise<number | null> => {
    // The lock outlives the sweep on purpose: it spaces sweeps across replicas.
    const acquired = await options.redis.set(
      lockKey,
      String(process.pid),
      'PX',
      Math.max(1000, intervalMs - 1000),
      'NX',
    );
    if (acquired !== 'OK') return null;
    const cutoff = new Date(now.getTime() - options.retentionSeconds * 1000);
    const deleted = await options.objects.deleteOlderThan(GENERATIONS_PREFIX, cutoff);
    if (deleted > 0) options.log?.info({ deleted, cutoff: cutoff.toISOString() }, 'expired objects deleted');
    return deleted;
  };
  const timer = setInterval(() => {
    sweepOnce().catch((error: unknown) =>
      options.log?.warn({ err: (error as Error).message }, 'retention sweep failed; retrying next interval'),
    );
  }, intervalMs);
  timer.unref();
  return { sweepOnce, stop: () => clearInterval(timer) };
}
