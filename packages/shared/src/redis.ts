/**
 * Redis connections. Workers need `maxRetriesPerRequest: null`: BullMQ's blocking
 * commands must wait out a Redis restart instead of failing after a few retries.
 * Producers (the API) keep a bound so a request fails fast with 503 while Redis is down.
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface CreateRedisOptions {
  /** True for connections used by BullMQ workers or blocking reads. Default: false. */
  forWorker?: boolean;
  /** Shown in CLIENT LIST, which helps tell processes apart. Default: none. */
  connectionName?: string;
  /** Do not connect until the first command. Default: false. */
  lazyConnect?: boolean;
}

export function createRedis(url: string, options: CreateRedisOptions = {}): Redis {
  const redisOptions: RedisOptions = {
    maxRetriesPerRequest: options.forWorker ? null : 3,
    // Reconnect forever with a capped delay; Kubernetes restarts Redis, we wait for it.
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    lazyConnect: options.lazyConnect ?? false,
  };
  if (options.connectionName !== undefined) redisOptions.connectionName = options.connectionName;
  return new Redis(url, redisOptions);
}

/** Closes a connection, falling back to disconnect when QUIT cannot be sent. Safe to call twice. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/** One PING without retries: whether a Redis answers at `url` right now (start-up probes). */
export async function redisAnswers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false; // not accepting connections yet, or still loading its append-only file
  } finally {
    probe.disconnect();
  }
}
