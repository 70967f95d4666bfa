import { queuedRecord } from '@glm-image/testing/records';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationRecord, WebhookEvent } from './generation.ts';
import { GenerationStore } from './generation-store.ts';
import { GenerationLifecycle } from './lifecycle.ts';
import { ServiceMetrics } from './metrics.ts';
import { closeRedis, createRedis, type RedisClient } from './redis.ts';

/**
 * The lifecycle against a real Redis: each ending is counted once and announced once
 * whoever decides it and however often it is reported; progress is throttled on an
 * injected clock, and a stage waits for its last progress write.
 */

let server: RedisServerHandle;
let redis: RedisClient;
let store: GenerationStore;

beforeAll(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url);
  store = new GenerationStore(redis, { keyPrefix: '{life}:' });
});

afterAll(async () => {
  if (redis) await closeRedis(redis);
  await server?.stop();
});

function record(): GenerationRecord {
  return queuedRecord({ input: { webhook: { url: 'https://hooks.example.com/x', events: [] } } });
}

function harness(now: () => number = Date.now) {
  const announced: Array<[string, WebhookEvent]> = [];
  const metrics = new ServiceMetrics({ collectDefaults: false });
  const lifecycle = new GenerationLifecycle({
    store,
    metrics,
    webhooks: {
      notify: async (r, event) => {
        announced.push([r.id, event]);
      },
    },
    log: { error() {} },
    progressIntervalMs: 1000,
    now,
  });
  const count = async (status: string, code = 'none') => {
    const { body } = await metrics.scrape();
    const line = body
      .split('\n')
      .find((l) => l.startsWith(`glm_generations_total{status="${status}",code="${code}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const endToEndCount = async () => {
    const { body } = await metrics.scrape();
    const line = body
      .split('\n')
      .find((l) => l.startsWith('glm_stage_duration_seconds_count{stage="end_to_end"}'));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  return { lifecycle, announced, count, endToEndCount };
}

describe('GenerationLifecycle', () => {
  it('counts and announces an ending once, however often it is reported', async () => {
    const { lifecycle, announced, count } = harness();
    const r = record();
    await lifecycle.create(r, 0);
    await lifecycle.startStage(r, 'decoding');
    expect(await lifecycle.succeed(r.id, { outputs: [] })).toMatchObject({ status: 'succeeded' });
    expect(await lifecycle.succeed(r.id, { outputs: [] })).toBeNull();
    expect(await lifecycle.fail(r.id, { code: 'model_error', message: 'late' })).toBeNull();
    expect(await lifecycle.finishCanceled(r.id)).toBeNull();
    expect(await count('succeeded')).toBe(1);
    expect(await count('failed', 'model_error')).toBe(0);
    expect(announced).toEqual([[r.id, 'generation.succeeded']]);
    expect(await store.unfinishedCount('acme')).toBe(0);
  });

  it('ends a plan-only generation succeeded from planning, announced as planned then succeeded, once', async () => {
    const { lifecycle, announced, count, endToEndCount } = harness();
    const r = record();
    await lifecycle.create(r, 0);
    await lifecycle.startStage(r, 'planning');
    const done = await lifecycle.succeedWithPlan(r.id, {
      progress: { stage: 'planning', step: 512, total: 512 },
    });
    expect(done).toMatchObject({
      status: 'succeeded',
      outputs: [],
      progress: { stage: 'planning', step: 512 },
    });
    expect(done?.timings.total_ms).toBeGreaterThanOrEqual(0);
    expect(await lifecycle.succeedWithPlan(r.id, {})).toBeNull();
    expect(await lifecycle.fail(r.id, { code: 'model_error', message: 'late' })).toBeNull();
    expect(announced).toEqual([
      [r.id, 'generation.planned'],
      [r.id, 'generation.succeeded'],
    ]);
    expect(await count('succeeded')).toBe(1);
    // Its end-to-end time is observed as for any success.
    expect(await endToEndCount()).toBe(1);
    expect(await store.unfinishedCount('acme')).toBe(0);
  });

  it('ends a queued generation canceled by its client, and only flags a running one', async () => {
    const { lifecycle, announced, count } = harness();
    const queued = record();
    await lifecycle.create(queued, 0);
    expect(await lifecycle.requestCancel(queued.id)).toMatchObject({ status: 'canceled' });
    expect(await lifecycle.requestCancel(queued.id)).toMatchObject({ status: 'canceled' });

    const running = record();
    await lifecycle.create(running, 0);
    await lifecycle.startStage(running, 'planning');
    expect(await lifecycle.requestCancel(running.id)).toMatchObject({
      status: 'planning',
      cancel_requested: true,
    });
    expect(await count('canceled')).toBe(1);
    await lifecycle.finishCanceled(running.id);
    expect(await count('canceled')).toBe(2);
    expect(announced).toEqual([
      [queued.id, 'generation.canceled'],
      [running.id, 'generation.canceled'],
    ]);
    expect(await lifecycle.requestCancel('gen_unknown')).toBeNull();
  });

  it('announces the plan even when a fast decoder moved on first, but not after a failure', async () => {
    const { lifecycle, announced } = harness();
    const r = record();
    await lifecycle.create(r, 0);
    await lifecycle.startStage(r, 'planning');
    await store.transition(r.id, 'decoding');
    expect(await lifecycle.planned(r.id)).toMatchObject({ status: 'decoding' });

    const failed = record();
    await lifecycle.create(failed, 0);
    await lifecycle.fail(failed.id, { code: 'model_error', message: 'x' });
    await lifecycle.planned(failed.id);
    expect(announced).toEqual([
      [r.id, 'generation.planned'],
      [failed.id, 'generation.failed'],
    ]);
  });

  it('announces an ending again without counting it twice', async () => {
    const { lifecycle, announced, count } = harness();
    const r = record();
    await lifecycle.create(r, 0);
    const failed = await lifecycle.fail(r.id, { code: 'worker_lost', message: 'x' });
    await lifecycle.reannounce(failed!);
    expect(announced).toEqual([
      [r.id, 'generation.failed'],
      [r.id, 'generation.failed'],
    ]);
    expect(await count('failed', 'worker_lost')).toBe(1);
  });

  it('throttles progress on its clock, writes forced steps, and settles before the stage moves on', async () => {
    let clock = 10_000;
    const { lifecycle } = harness(() => clock);
    const r = record();
    await lifecycle.create(r, 0);
    await lifecycle.startStage(r, 'planning');
    const progress = lifecycle.progress(r.id, 'planning');
    progress.report(1, 10); // written: the first
    progress.report(2, 10); // too soon
    clock += 999;
    progress.report(3, 10); // still too soon
    clock += 1;
    progress.report(4, 10); // written
    progress.report(10, 10, { force: true }); // written: the last step always lands
    await progress.settle();
    const steps = (await store.readEvents(r.id))
      .filter((e) => e.type === 'progress')
      .map((e) => e.data.progress.step);
    expect(steps).toEqual([1, 4, 10]);
    expect((await store.get(r.id))?.progress).toEqual({ stage: 'planning', step: 10, total: 10 });
  });

  it('observes the queue wait once, when a generation first leaves the queue', async () => {
    const metrics = new ServiceMetrics({ collectDefaults: false });
    const lifecycle = new GenerationLifecycle({ store, metrics, webhooks: null, log: { error() {} } });
    const r = record();
    await lifecycle.create(r, 0);
    await lifecycle.startStage(r, 'planning');
    await lifecycle.startStage(r, 'planning'); // a second worker's attempt is refused
    const { body } = await metrics.scrape();
    expect(body).toContain('glm_stage_duration_seconds_count{stage="queue_wait"} 1');
  });
});
