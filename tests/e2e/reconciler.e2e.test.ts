/**
 * An API process killed between storing a generation and enqueuing its job leaves a
 * queued record no worker will ever see. The reconciler of the running API finds it and
 * queues it again, with nobody reading it, and the generation succeeds.
 */
import { parseCommonEnv } from '@glm-image/shared/env';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { createPlanQueue, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { admitThenDie, type E2eSystem, startSystem } from './harness.ts';

let system: E2eSystem;

beforeAll(async () => {
  system = await startSystem({ env: { RECONCILE_INTERVAL_MS: '500', RECONCILE_AFTER_MS: '2000' } });
});

afterAll(async () => {
  await system?.stop();
});

it('queues a generation stranded by a killed API again, with no client reading it, and it succeeds', async () => {
  const id = 'gen_stranded_by_a_killed_api';
  expect(await admitThenDie(id, system.redis.url, system.s3)).toBe('SIGKILL');

  const redis = createRedis(system.redis.url);
  const store = new GenerationStore(redis);
  const planQueue = createPlanQueue(redis, queueSettingsFromEnv(parseCommonEnv({})));
  try {
    // Read straight from Redis: no request reaches the API for this generation.
    const stranded = await store.get(id);
    expect(stranded?.status).toBe('queued');
    expect(stranded?.priority).toBe(3);

    const deadline = Date.now() + 120_000;
    let record = stranded;
    while (record?.status !== 'succeeded' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      record = await store.get(id);
    }
    expect(record?.status, JSON.stringify(record?.error)).toBe('succeeded');
    expect(record?.outputs).toHaveLength(1);
    expect(
      system.logs.some((line) => line.startsWith('api') && line.includes('stranded generations settled')),
    ).toBe(true);
  } finally {
    await planQueue.close();
    await closeRedis(redis);
  }
});
