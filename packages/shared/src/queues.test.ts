import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import type { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDecoderEnv, parseEvaluatorEnv, parsePlannerEnv } from './env.ts';
import { ConfigError } from './errors.ts';
import {
  createDecodeQueue,
  createPlanQueue,
  createWorker,
  type DecodeJobData,
  decodeJobId,
  type PlanJobData,
  type QueueSettings,
  queueSettingsFromEnv,
  workerProcessName,
  workerSettingsFromEnv,
} from './queues.ts';
import { closeRedis, createRedis, type RedisClient } from './redis.ts';

let server: RedisServerHandle;
let redis: RedisClient;

beforeAll(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url, { forWorker: true });
});
afterAll(async () => {
  await closeRedis(redis);
  await server.stop();
});

function settings(overrides: Record<string, string> = {}): QueueSettings {
  return queueSettingsFromEnv(parsePlannerEnv({ JOB_BACKOFF_MS: '10', ...overrides }));
}

describe('job catalog', () => {
  it('keeps every key of a queue under the hash-tagged prefix', async () => {
    const queue = createPlanQueue(redis, settings({ PLAN_QUEUE: 'plan-keys' }));
    try {
      await queue.add('plan', { generationId: 'g1', tenant: 'acme' });
      const keys = await redis.keys('*');
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) expect(key.startsWith('{glm}:plan-keys:')).toBe(true);
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('refuses a prefix without a hash tag', () => {
    expect(() => createPlanQueue(redis, { ...settings(), prefix: 'glm' })).toThrow(/hash tag/);
  });

  it('adds a generation decode job once however often it is enqueued', async () => {
    const queue = createDecodeQueue(redis, settings({ DECODE_QUEUE: 'decode-once' }));
    try {
      const data: DecodeJobData = {
        generationId: 'g1',
        tenant: 'acme',
        main: { rows: 1, cols: 2, tokens: [3, 4] },
      };
      const first = await queue.add('decode', data, { jobId: decodeJobId('g1') });
      const second = await queue.add('decode', data, { jobId: decodeJobId('g1') });
      expect(first.id).toBe('g1-decode');
      expect(second.id).toBe('g1-decode');
      expect(await queue.count()).toBe(1);
      expect(first.opts).toMatchObject({
        attempts: 3,
        backoff: { type: 'exponential', delay: 10 },
        removeOnComplete: { age: 3600, count: 1000 },
      });
    } finally {
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it('retries a failing job with backoff up to JOB_ATTEMPTS', async () => {
    const queueSettings = settings({ PLAN_QUEUE: 'plan-retry', JOB_ATTEMPTS: '2' });
    const queue = createPlanQueue(redis, queueSettings);
    const attempts: number[] = [];
    let failedFinally!: () => void;
    const done = new Promise<void>((resolve) => {
      failedFinally = resolve;
    });
    const worker = createWorker<PlanJobData>(
      'plan',
      async (job: Job<PlanJobData>) => {
        attempts.push(job.attemptsMade);
        throw new Error('planner crashed');
      },
      redis,
      queueSettings,
      workerSettingsFromEnv(parsePlannerEnv({})),
    );
    worker.on('failed', (job) => {
      if (job && job.attemptsMade >= 2) failedFinally();
    });
    try {
      const job = await queue.add('plan', { generationId: 'g2', tenant: 'acme' });
      await done;
      expect(attempts).toEqual([0, 1]);
      expect(await queue.getJobState(job.id!)).toBe('failed');
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});

describe('worker settings', () => {
  it('ship short locks: 6 s, renewed every 1.5 s, with a stalled check every 1.5 s', () => {
    for (const parse of [parsePlannerEnv, parseDecoderEnv, parseEvaluatorEnv]) {
      expect(workerSettingsFromEnv(parse({}))).toMatchObject({
        lockDurationMs: 6000,
        lockRenewMs: 1500,
        stalledIntervalMs: 1500,
      });
    }
  });

  it('renew a lock set on its own at a quarter of its length, or every LOCK_RENEW_MS', () => {
    expect(workerSettingsFromEnv(parsePlannerEnv({ LOCK_DURATION_MS: '20000' })).lockRenewMs).toBe(5000);
    expect(
      workerSettingsFromEnv(parsePlannerEnv({ LOCK_DURATION_MS: '20000', LOCK_RENEW_MS: '2000' }))
        .lockRenewMs,
    ).toBe(2000);
  });

  it('refuse a renewal that comes no sooner than the lock runs out', () => {
    const refused = () => parseDecoderEnv({ LOCK_DURATION_MS: '3000', LOCK_RENEW_MS: '3000' });
    expect(refused).toThrow(ConfigError);
    expect(refused).toThrow(/LOCK_RENEW_MS: must be less than LOCK_DURATION_MS/);
  });

  it('name the process on every job its worker takes', async () => {
    const queueSettings = settings({ PLAN_QUEUE: 'plan-named' });
    const queue = createPlanQueue(redis, queueSettings);
    const worker = createWorker<PlanJobData>(
      'plan',
      async () => {},
      redis,
      queueSettings,
      workerSettingsFromEnv(parsePlannerEnv({})),
    );
    try {
      const job = await queue.add('plan', { generationId: 'g3', tenant: 'acme' });
      await expect.poll(() => queue.getJobState(job.id!), { timeout: 120_000 }).toBe('completed');
      expect((await queue.getJob(job.id!))?.processedBy).toBe(workerProcessName());
      expect(workerProcessName()).toMatch(new RegExp(`:${process.pid}$`));
    } finally {
      await worker.close();
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });
});
