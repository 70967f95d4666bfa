/**
 * Redis connections. Workers need `maxRetriesPerRequest: null`: BullMQ's blocking
 * commands, and the jobs' own reads and writes, must wait out a Redis restart instead of
 * failing after a few retries (a job failing for an outage would spend its attempts).
 * Producers (the API) keep a bound so a request fails fast with 503 while Redis is down.
 *
 * REDIS_URL names one server or a Redis Cluster (see redis-url.ts); either way callers get
 * a RedisClient and use it the same way. Every key of this system and of its queues
 * carries the `{glm}` hash tag, so multi-key scripts, transactions and pipelines all run
 * in one slot of a cluster.
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type RedisTarget } from './redis-url.ts';
import { SettlingCluster } from './settling-cluster.ts';

/** A connection to one Redis server or to a Redis Cluster. */
export type RedisClient = Redis | Cluster;

export interface CreateRedisOptions {
  /** True for connections used by BullMQ workers or blocking reads. Default: false. */
  forWorker?: boolean;
  /**
   * On a cluster: ride out CLUSTERDOWN, which nodes just back answer until they have
   * agreed again (seconds on a busy machine), where ioredis gives a command up after 16
   * tries 100 ms apart. For the jobs' own reads and writes; BullMQ's connections keep
   * ioredis's bound and retry failed fetches themselves. Default: false.
   */
  waitOutClusterDown?: boolean;
  /** Shown in CLIENT LIST, which helps tell processes apart. Default: none. */
  connectionName?: string;
  /** Do not connect until the first command. Default: false. */
  lazyConnect?: boolean;
}

/**
 * How long a command rides out CLUSTERDOWN with `waitOutClusterDown`: a try every 250 ms
 * for a minute. MOVED and ASK count against the same bound, which still stops a redirect loop.
 */
const CLUSTER_DOWN_PATIENCE = { retryDelayOnClusterDown: 250, maxRedirections: 240 } as const;

/** Reconnect forever with a capped delay; Kubernetes restarts Redis, we wait for it. */
const reconnectDelay = (attempt: number) => Math.min(attempt * 100, 2000);

export function createRedis(url: string, options: CreateRedisOptions = {}): RedisClient {
  const target = parseRedisUrl(url);
  const common = {
    maxRetriesPerRequest: options.forWorker ? null : 3,
    ...(options.connectionName !== undefined ? { connectionName: options.connectionName } : {}),
  };
  if (target.kind === 'server') {
    const redisOptions: RedisOptions = {
      ...common,
      retryStrategy: reconnectDelay,
      lazyConnect: options.lazyConnect ?? false,
    };
    return new Redis(url, redisOptions);
  }
  const cluster = new SettlingCluster(target.nodes, {
    clusterRetryStrategy: reconnectDelay,
    lazyConnect: options.lazyConnect ?? false,
    redisOptions: { ...nodeOptions(target), ...common },
    ...(options.waitOutClusterDown ? CLUSTER_DOWN_PATIENCE : {}),
  });
  // A cluster client holds every command in its offline queue while it reconnects, with
  // no bound: a producer's request would hang through an outage instead of failing fast.
  // Past the first connection, producers refuse at once; workers keep waiting it out.
  if (!options.forWorker) {
    cluster.once('ready', () => {
      cluster.options.enableOfflineQueue = false;
    });
  }
  return cluster;
}

type ClusterTarget = Extract<RedisTarget, { kind: 'cluster' }>;

/** What every node connection of a cluster is opened with: the URL's credentials and TLS. */
function nodeOptions(target: ClusterTarget): NonNullable<ClusterOptions['redisOptions']> {
  return {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: {} } : {}),
  };
}

/** Closes a connection, falling back to disconnect when QUIT cannot be sent. Safe to call twice. */
export async function closeRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'end') return;
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/** One PING without retries: whether a Redis (or a cluster, with every slot served) answers at `url` right now (start-up probes). */
export async function redisAnswers(url: string): Promise<boolean> {
  const target = parseRedisUrl(url);
  // Settling: a cluster whose nodes still fail their ready check must answer false, not never.
  const probe: RedisClient =
    target.kind === 'server'
      ? new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      : new SettlingCluster(target.nodes, {
          lazyConnect: true,
          clusterRetryStrategy: () => null,
          redisOptions: { ...nodeOptions(target), maxRetriesPerRequest: 0 },
        });
  probe.on('error', () => {});
  try {
    await probe.connect();
    if (probe instanceof Cluster) {
      const info = await probe.cluster('INFO');
      if (!String(info).includes('cluster_state:ok')) return false;
    }
    return (await probe.ping()) === 'PONG';
  } catch {
    return false; // not accepting connections yet, or still loading its append-only file
  } finally {
    probe.disconnect();
  }
}
