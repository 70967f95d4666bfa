/**
 * The Redis layer on a real three-master Redis Cluster: every key of one generation and
 * of the queues in one slot, every Lua script of the generation store and the training
 * index, Pub/Sub announcements published through any node, blocking reads, a BullMQ
 * job round trip, and producer and worker connections through a whole-cluster outage.
 * The whole system on a cluster: tests/faults/redis-cluster.fault.test.ts.
 */
import { queuedRecord } from '@glm-image/testing/records';
import { type RedisClusterHandle, startRedisCluster } from '@glm-image/testing/redis-cluster';
import type { Job } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlannerEnv } from './env.ts';
import { GenerationStore } from './generation-store.ts';
import { DEFAULT_KEY_PREFIX, RedisKeys } from './keys.ts';
import { createPlanQueue, createWorker, type PlanJobData, queueSettingsFromEnv } from './queues.ts';
import { closeRedis, createRedis, type RedisClient, redisAnswers } from './redis.ts';
import { TrainingIndex } from './training-index.ts';

let cluster: RedisClusterHandle;
let redis: RedisClient;

beforeAll(async () => {
  cluster = await startRedisCluster();
  redis = createRedis(cluster.url);
  redis.on('error', () => {}); // the outage test below takes the cluster down on purpose
});
afterAll(async () => {
  if (redis) await closeRedis(redis);
  await cluster?.stop();
});

async function slotOf(key: string): Promise<number> {
  return Number(await redis.call('CLUSTER', 'KEYSLOT', key));
}

describe('a Redis Cluster', () => {
  it('is three masters sharing the slots, and REDIS_URL reaches it as one client', async () => {
    expect(redis).toBeInstanceOf(Cluster);
    expect(await redisAnswers(cluster.url)).toBe(true);
    await redis.ping();
    const masters = (redis as Cluster).nodes('master');
    expect(masters).toHaveLength(3);
    // Keys without a tag spread over every node: this really is a cluster.
    for (let i = 0; i < 30; i += 1) await redis.set(`spread:${i}`, '1');
    const sizes = await Promise.all(masters.map((node) => node.dbsize()));
    expect(sizes.every((size) => size > 0)).toBe(true);
  });

  it('puts every key of a generation, its tenant and the queues in one slot', async () => {
    const keys = new RedisKeys(DEFAULT_KEY_PREFIX);
    const all = [
      keys.record('g1'),
      keys.events('g1'),
      keys.eventsChannel('g1'),
      keys.webhookLog('g1'),
      keys.tenantIndex('acme'),
      keys.tenantUnfinished('acme'),
      keys.trainingIndex('acme', 'decode'),
      keys.planRatings('g1'),
      keys.awaitingEnqueue,
      keys.idempotency('acme', 'ab'),
      `${keys.rateLimitNamespace}key`,
      `${keys.authFailuresNamespace}127.0.0.1`,
      keys.disabledWebhooks('acme'),
      keys.reconcilerLock,
      keys.retentionSweepLock,
      '{glm}:plan:wait',
      '{glm}:decode:prioritized',
    ];
    const slots = new Set(await Promise.all(all.map(slotOf)));
    expect(slots).toEqual(new Set([await slotOf('{glm}')]));
    // Without the tag, the same names would land all over the cluster.
    const untagged = new Set(await Promise.all(all.map((key) => slotOf(key.replaceAll('{glm}', 'glm')))));
    expect(untagged.size).toBeGreaterThan(1);
  });

  it('runs every generation store script: create, transition, update, cancel, list, annotate, export page', async () => {
    const store = new GenerationStore(redis, { retentionSeconds: 3600 });
    const running = queuedRecord({ id: 'cluster-run' });
    const queued = queuedRecord({ id: 'cluster-queued' });
    await store.create(running, 10);
    await store.create(queued, 10);
    expect(await store.unfinishedCount('acme')).toBe(2);
    expect(await store.awaitingEnqueue(Date.now() + 1000, 10)).toEqual(
      expect.arrayContaining(['cluster-run', 'cluster-queued']),
    );

    expect((await store.transition(running.id, 'planning'))?.status).toBe('planning');
    expect(
      (await store.update(running.id, { progress: { stage: 'planning', step: 1 } }, 'progress'))?.progress,
    ).toMatchObject({ step: 1 });
    expect((await store.requestCancel(queued.id))?.outcome).toBe('canceled');
    const done = await store.transition(running.id, 'succeeded', {
      outputs: [{ key: 'k', width: 256, height: 256, format: 'png', bytes: 10, sha256: 'ab' }],
    });
    expect(done?.status).toBe('succeeded');
    expect(await store.unfinishedCount('acme')).toBe(0);
    expect(await store.awaitingEnqueue(Date.now() + 1000, 10)).toEqual([]);

    const page = await store.listByTenant('acme', { limit: 10 });
    expect(page.items.map((r) => r.id).sort()).toEqual(['cluster-queued', 'cluster-run']);

    const feedback = { id: 'f1', created_at: new Date().toISOString(), stage: 'decode' as const, labels: [] };
    expect(
      (await store.addFeedback(running.id, feedback, { stages: ['decode'], ratesImages: true }))?.outcome,
    ).toBe('ok');
    const index = new TrainingIndex(redis, store.keys);
    const rows = await index.page('acme', 'decode', { minScore: '-inf', cursorId: '', limit: 10 });
    expect(rows.map((row) => row.record.id)).toEqual([running.id]);
    expect((await index.records([running.id, 'missing'])).map((r) => r?.id ?? null)).toEqual([
      running.id,
      null,
    ]);

    const events = await store.readEvents(running.id);
    expect(events.map((event) => event.type)).toEqual(['status', 'status', 'progress', 'status']);

    // The same scripts with keys that lack the tag: the cluster refuses them.
    const untagged = new GenerationStore(redis, { keyPrefix: 'glm:', retentionSeconds: 3600 });
    await expect(untagged.create(queuedRecord({ id: 'cluster-untagged' }))).rejects.toThrow(/CROSSSLOT/);
  });

  it('delivers an announcement published through any node to a subscriber on another', async () => {
    const subscriber = createRedis(cluster.url, { forWorker: true });
    const received: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    try {
      await subscriber.subscribe('{glm}:gen:g1:events');
      // Each node publishes once: the cluster bus carries every message to every node.
      for (const node of cluster.nodes) {
        const direct = new Redis(node.url);
        try {
          await direct.publish('{glm}:gen:g1:events', `from-${node.port}`);
        } finally {
          direct.disconnect();
        }
      }
      await expect
        .poll(() => [...received].sort())
        .toEqual(cluster.nodes.map((n) => `from-${n.port}`).sort());
    } finally {
      await closeRedis(subscriber);
    }
  });

  it('serves a blocking stream read and runs a BullMQ job', async () => {
    const blocking = createRedis(cluster.url, { forWorker: true });
    const worker = createRedis(cluster.url, { forWorker: true });
    const settings = queueSettingsFromEnv(parsePlannerEnv({ PLAN_QUEUE: 'cluster-plan' }));
    const queue = createPlanQueue(redis, settings);
    const handled: string[] = [];
    const consumer = createWorker<PlanJobData>(
      'plan',
      async (job: Job<PlanJobData>) => {
        handled.push(job.data.generationId);
      },
      worker,
      settings,
      { concurrency: 1, lockDurationMs: 30_000, lockRenewMs: 7_500, stalledIntervalMs: 30_000 },
    );
    try {
      const read = blocking.xread('BLOCK', 0, 'STREAMS', '{glm}:blocking', '$');
      // The read is waiting once the stream's node lists a blocked client.
      await expect
        .poll(async () => {
          const owner = await nodeOf('{glm}:blocking');
          return /blocked_clients:([1-9])/.test(await owner.info('clients'));
        })
        .toBe(true);
      await redis.xadd('{glm}:blocking', '*', 'n', '1');
      const reply = (await read) as [string, [string, string[]][]][];
      expect(reply[0]![1][0]![1]).toEqual(['n', '1']);

      await queue.add('plan', { generationId: 'g-bull', tenant: 'acme' });
      await expect.poll(() => handled, { timeout: 30_000 }).toEqual(['g-bull']);
    } finally {
      await consumer.close();
      await queue.close();
      await closeRedis(worker);
      await closeRedis(blocking);
    }
  });

  it("while a master is failed, a start-up probe says no; a worker's blocking connection that found it so connects once the cluster is ok", async () => {
    await cluster.killNode(0);
    // The survivors still tell the slots, but say the cluster fails once they agree the node is gone.
    await expect.poll(() => clusterState(cluster.nodes[1]!.url), { timeout: 60_000 }).toBe('fail');
    // A start-up probe says no, where it once waited for good.
    let probed: boolean | 'pending' = 'pending';
    void redisAnswers(cluster.url).then((answer) => {
      probed = answer;
    });
    await expect.poll(() => probed).toBe(false);

    // As BullMQ makes a worker's blocking connection: a duplicate of the worker's connection.
    const given = createRedis(cluster.url, { forWorker: true, lazyConnect: true }) as Cluster;
    const blocking = given.duplicate();
    blocking.on('error', () => {});
    let attempts = 0;
    let failedAttempts = 0;
    blocking.on('connect', () => {
      attempts += 1;
    });
    blocking.on('close', () => {
      if (attempts > 0) failedAttempts += 1;
    });
    let outcome = 'pending';
    const connecting = blocking.connect().then(
      () => {
        outcome = 'connected';
      },
      (error: Error) => {
        outcome = error.message;
      },
    );
    try {
      // Attempts read the slots, then fail their ready check; the client keeps trying,
      // and all that wait on it share one listener.
      await expect.poll(() => failedAttempts, { timeout: 60_000 }).toBeGreaterThan(2);
      expect(outcome).toBe('pending');
      expect(blocking.listenerCount('ready')).toBe(1);
      await cluster.restartNode(0);
      await expect.poll(() => outcome).toBe('connected');
      await connecting;
      expect(await blocking.set('{glm}:after-the-failing-cluster', 'ok')).toBe('OK');
    } finally {
      await closeRedis(blocking);
      await closeRedis(given);
    }
  });

  // Last: takes the whole cluster down and brings it back.
  it('while the whole cluster is down, refuses a producer at once and holds a worker; both go on once it is back', async () => {
    const producer = createRedis(cluster.url);
    // As a job's own connection (the worker runtime's) is made.
    const worker = createRedis(cluster.url, { forWorker: true, waitOutClusterDown: true });
    producer.on('error', () => {});
    worker.on('error', () => {});
    try {
      await producer.set('{glm}:outage', 'kept');
      expect(await worker.get('{glm}:outage')).toBe('kept');
      await cluster.kill();

      // An API request answers 503 instead of hanging for as long as the outage lasts.
      await expect(producer.get('{glm}:outage')).rejects.toThrow();
      const held = worker.get('{glm}:outage');
      await cluster.restart();
      expect(await held).toBe('kept');
      await expect
        .poll(() => producer.get('{glm}:outage').catch(() => null), { timeout: 30_000 })
        .toBe('kept');
    } finally {
      await closeRedis(producer);
      await closeRedis(worker);
    }
  });
});

/** What one node says of the cluster: `ok` or `fail`. */
async function clusterState(nodeUrl: string): Promise<string> {
  const node = new Redis(nodeUrl, { lazyConnect: true });
  try {
    const info = String(await node.call('CLUSTER', 'INFO'));
    return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unknown';
  } finally {
    node.disconnect();
  }
}

/** The master connection that serves `key`'s slot. */
async function nodeOf(key: string): Promise<Redis> {
  const slot = await slotOf(key);
  const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const [, , [, port]] = ranges.find(([from, to]) => slot >= from && slot <= to)!;
  return (redis as Cluster).nodes('master').find((node) => node.options.port === port)!;
}
