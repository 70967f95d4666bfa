import type { GenerationRecord, WebhookEvent } from '@glm-image/shared/generation';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { GenerationLifecycle } from '@glm-image/shared/lifecycle';
import { ServiceMetrics } from '@glm-image/shared/metrics';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { queuedRecord } from '@glm-image/testing/records';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { type Job, Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { failGenerationIfJobIsOver } from './generation-job.ts';

let server: RedisServerHandle;
let redis: ReturnType<typeof createRedis>;

beforeAll(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url, { forWorker: true });
});

afterAll(async () => {
  if (redis) await closeRedis(redis);
  await server?.stop();
});

function record(id: string): GenerationRecord {
  return queuedRecord({ id, status: 'decoding', progress: { stage: 'decoding' } });
}

it('fails the generation when BullMQ gives up on a job whose workers keep dying', async () => {
  const store = new GenerationStore(redis, { keyPrefix: '{stall}:' });
  await store.create(record('gen_stalled'));
  const announced: Array<[string, WebhookEvent]> = [];
  const metrics = new ServiceMetrics({ collectDefaults: false });
  const lifecycle = new GenerationLifecycle({
    store,
    metrics,
    webhooks: {
      notify: async (r: GenerationRecord, event: WebhookEvent) => {
        announced.push([r.id, event]);
      },
    },
    log: { error() {} },
  });
  const queue = new Queue('stall', { connection: redis, prefix: '{stall}' });
  await queue.add('decode', { generationId: 'gen_stalled' });

  // A worker that takes the job and then stops renewing its lock, as a frozen or killed one would.
  let taken!: () => void;
  const jobTaken = new Promise<void>((resolve) => {
    taken = resolve;
  });
  const frozen = new Worker(
    'stall',
    async () => {
      taken();
      await new Promise(() => {});
    },
    {
      connection: redis,
      prefix: '{stall}',
      lockDuration: 500,
      skipLockRenewal: true,
      skipStalledCheck: true,
    },
  );
  await jobTaken;
  // The worker that finds the stalled job; with maxStalledCount 0 the first stall is final.
  const checker = new Worker('stall', async () => {}, {
    connection: redis,
    prefix: '{stall}',
    stalledInterval: 300,
    maxStalledCount: 0,
    autorun: false,
  });
  const recorded = new Promise<boolean>((resolve, reject) => {
    checker.on('failed', (job) => {
      if (job)
        failGenerationIfJobIsOver(lifecycle, job as Job<{ generationId: string }>, 0).then(resolve, reject);
    });
  });
  void checker.run();
  try {
    expect(await recorded).toBe(true);
    const failed = await store.get('gen_stalled');
    expect(failed?.status).toBe('failed');
    expect(failed?.error?.code).toBe('worker_lost');
    expect(announced).toEqual([['gen_stalled', 'generation.failed']]);
    const { body } = await metrics.scrape();
    expect(body).toContain('glm_generations_total{status="failed",code="worker_lost"} 1');
    // A second report of the same end changes nothing.
    expect(
      await failGenerationIfJobIsOver(
        lifecycle,
        { data: { generationId: 'gen_stalled' }, attemptsMade: 3, opts: { attempts: 3 }, stalledCounter: 0 },
        0,
      ),
    ).toBe(false);
  } finally {
    await checker.close();
    await frozen.close(true);
    await queue.close();
  }
});
