/**
 * The KEDA triggers must read the keys BullMQ really writes. This enqueues jobs in every
 * state through the apps' own queue factory (configured from the rendered ConfigMap)
 * into a real redis-server, then evaluates each ScaledObject trigger the way KEDA does:
 * `redis` triggers by LLEN of their list, `prometheus` triggers by evaluating their
 * query over the glm_queue_jobs gauge the API exports.
 */
import { parseCommonEnv } from '@glm-image/shared/env';
import { QUEUE_STATES, type QueueState, registerQueueMetrics } from '@glm-image/shared/metrics';
import { createQueue, type QueueKind, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { type Job, type Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type K8sObject, renderKustomization } from './k8s/render.ts';
import { findObject, OVERLAYS, overlayDir } from './manifests.ts';

type Trigger = IScaledObject['spec']['triggers'][number];

/** BullMQ 5 list keys and the state they hold. */
const LIST_STATES: Record<string, QueueState> = { wait: 'waiting', active: 'active' };
const QUERY = /^sum\(max by \(state\) \(glm_queue_jobs\{queue="([^"]+)",state=~"([a-z|]+)"\}\)\)$/;

function parseQuery(query: string): { queue: string; states: QueueState[] } {
  const match = QUERY.exec(query);
  if (!match) throw new Error(`unexpected trigger query shape: ${query}`);
  return { queue: match[1]!, states: match[2]!.split('|') as QueueState[] };
}

describe('KEDA triggers against BullMQ in a real Redis', () => {
  let redis: RedisServerHandle;
  let client: Redis;
  let objects: K8sObject[];
  let queues: Record<'plan' | 'decode' | 'evaluate', Queue>;
  let registry: Registry;
  let workers: Worker[] = [];
  const connection = () => ({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null });
  const scaledObject = (name: string) => findObject<IScaledObject>(objects, 'ScaledObject', name);

  beforeAll(async () => {
    redis = await startRedisServer();
    client = new Redis(redis.url);
    objects = await renderKustomization(overlayDir('production'));
    const config = findObject<IConfigMap>(objects, 'ConfigMap', 'glm-image-common').data ?? {};
    const settings = queueSettingsFromEnv(parseCommonEnv({ ...config, REDIS_URL: redis.url }));
    const make = (kind: QueueKind) => createQueue(kind, connection(), settings);
    queues = { plan: make('plan'), decode: make('decode'), evaluate: make('evaluate') };
    registry = new Registry();
    registerQueueMetrics(registry, Object.values(queues));
  });
  afterEach(async () => {
    for (const worker of workers) await worker.close(true);
    workers = [];
    await client.flushall();
  });
  afterAll(async () => {
    await queues?.plan.close();
    await queues?.decode.close();
    await queues?.evaluate.close();
    client?.disconnect();
    await redis?.stop();
  });

  /** The value KEDA reads for a trigger right now, and whether it makes the target active. */
  async function evaluate(trigger: Trigger): Promise<{ value: number; active: boolean }> {
    const meta = trigger.metadata as Record<string, string>;
    if (trigger.type === 'redis') {
      const value = await client.llen(meta.listName!);
      return { value, active: value > Number(meta.activationListLength ?? 0) };
    }
    if (trigger.type === 'prometheus') {
      const { queue, states } = parseQuery(meta.query!);
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'glm_queue_jobs')!;
      const value = (metric.values as { labels: Record<string, string>; value: number }[])
        .filter((v) => v.labels.queue === queue && states.includes(v.labels.state as QueueState))
        .reduce((sum, v) => sum + v.value, 0);
      return { value, active: value > Number(meta.activationThreshold ?? 0) };
    }
    throw new Error(`trigger type ${trigger.type} is not evaluated here`);
  }

  async function isActive(name: string): Promise<boolean> {
    const results = await Promise.all(scaledObject(name).spec.triggers.map(evaluate));
    return results.some((r) => r.active);
  }

  /** Leaves one job in `active` with no worker alive, as when a pod is killed mid-job. */
  async function strandActiveJob(queue: Queue): Promise<void> {
    await queue.add('job', { n: 0 });
    let started!: () => void;
    const running = new Promise<void>((resolve) => {
      started = resolve;
    });
    const worker = new Worker(
      queue.name,
      () => {
        started();
        return new Promise(() => {});
      },
      { connection: connection(), prefix: queue.opts.prefix, lockDuration: 60_000 },
    );
    workers.push(worker);
    await running;
    await worker.close(true);
  }

  it.each(OVERLAYS)('uses the same queue keys in the %s overlay', async (overlay) => {
    const other = await renderKustomization(overlayDir(overlay));
    for (const name of ['planner-worker', 'decoder-worker', 'evaluator-worker']) {
      const keys = (o: K8sObject[]) =>
        findObject<IScaledObject>(o, 'ScaledObject', name).spec.triggers.map((t) => [t.type, t.metadata]);
      expect(keys(other)).toEqual(keys(objects));
    }
  });

  it('reads lists where BullMQ keeps lists and the gauge where it keeps sorted sets', async () => {
    await strandActiveJob(queues.decode);
    await queues.decode.add('a', { n: 1 });
    await queues.decode.add('b', { n: 2 });
    await queues.decode.add('c', { n: 3 }, { priority: 3 });
    await queues.decode.add('d', { n: 4 }, { delay: 60_000 });
    await queues.plan.add('p', { n: 5 });

    const prefix = queues.decode.opts.prefix!;
    const expected: Record<QueueState, number> = { waiting: 2, active: 1, prioritized: 1, delayed: 1 };
    // The keys and Redis types BullMQ 5 uses for each state.
    const key = (state: string) => `${prefix}:decode:${state}`;
    expect(await client.type(key('wait'))).toBe('list');
    expect(await client.type(key('active'))).toBe('list');
    expect(await client.type(key('prioritized'))).toBe('zset');
    expect(await client.type(key('delayed'))).toBe('zset');
    expect(await client.zcard(key('prioritized'))).toBe(expected.prioritized);
    expect(await client.zcard(key('delayed'))).toBe(expected.delayed);

    for (const name of ['planner-worker', 'decoder-worker']) {
      const queue = name === 'planner-worker' ? 'plan' : 'decode';
      for (const trigger of scaledObject(name).spec.triggers) {
        const meta = trigger.metadata as Record<string, string>;
        if (trigger.type === 'redis') {
          const [tag, queueName, list] = meta.listName!.split(':');
          expect(`${tag}:${queueName}`).toBe(`${prefix}:${queue}`);
          expect(await client.type(meta.listName!), meta.listName).toBe('list');
          const state = LIST_STATES[list!]!;
          if (queue === 'decode') expect((await evaluate(trigger)).value, state).toBe(expected[state]);
        } else {
          const { queue: queried, states } = parseQuery(meta.query!);
          expect(queried).toBe(queue);
          if (queue === 'decode') {
            const want = states.reduce((sum, s) => sum + expected[s], 0);
            expect((await evaluate(trigger)).value).toBe(want);
          }
        }
      }
    }
    expect((await evaluate(scaledObject('planner-worker').spec.triggers[0]!)).value).toBe(1);
  });

  it("scales evaluators on the evaluate queue's waiting list, where BullMQ keeps it", async () => {
    const [trigger] = scaledObject('evaluator-worker').spec.triggers;
    expect(trigger?.type).toBe('redis');
    await queues.evaluate.add('evaluate', { generationId: 'g1', tenant: 't' });
    await queues.evaluate.add('evaluate', { generationId: 'g2', tenant: 't' });
    expect(await client.type((trigger!.metadata as Record<string, string>).listName!)).toBe('list');
    expect(await evaluate(trigger!)).toEqual({ value: 2, active: true });
  });

  it('covers every state that owes work, so decoders never scale to zero over pending jobs', () => {
    const covered = new Set<QueueState>();
    for (const trigger of scaledObject('decoder-worker').spec.triggers) {
      const meta = trigger.metadata as Record<string, string>;
      if (trigger.type === 'redis') covered.add(LIST_STATES[meta.listName!.split(':')[2]!]!);
      else for (const s of parseQuery(meta.query!).states) covered.add(s);
    }
    expect([...covered].sort()).toEqual([...QUEUE_STATES].sort());
  });

  it('lets the decoder scale to zero only when nothing is waiting, delayed, prioritized or stranded', async () => {
    expect(await isActive('decoder-worker')).toBe(false);

    const scenarios: Array<[string, () => Promise<unknown>]> = [
      ['waiting', () => queues.decode.add('w', {})],
      ['prioritized', () => queues.decode.add('p', {}, { priority: 2 })],
      ['delayed retry', () => queues.decode.add('d', {}, { delay: 120_000 })],
      ['stranded active', () => strandActiveJob(queues.decode)],
    ];
    for (const [label, enqueue] of scenarios) {
      await client.flushall();
      await enqueue();
      expect(await isActive('decoder-worker'), label).toBe(true);
    }

    // A job that completed leaves nothing behind that keeps a GPU up.
    await client.flushall();
    await queues.decode.add('done', {});
    const worker = new Worker(queues.decode.name, async (_job: Job) => 'ok', {
      connection: connection(),
      prefix: queues.decode.opts.prefix,
    });
    workers.push(worker);
    await new Promise<void>((resolve) => worker.once('completed', () => resolve()));
    await worker.close();
    expect(await isActive('decoder-worker')).toBe(false);
  });
});
