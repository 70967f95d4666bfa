import { queuedRecord } from '@glm-image/testing/records';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEvaluatorEnv } from './env.ts';
import { EvaluationRequests } from './evaluations.ts';
import type { GenerationRecord } from './generation.ts';
import { GenerationStore } from './generation-store.ts';
import { RedisKeys } from './keys.ts';
import { GenerationLifecycle } from './lifecycle.ts';
import { ServiceMetrics } from './metrics.ts';
import { type Feedback, MAX_FEEDBACK_PER_GENERATION, type StageQuality } from './quality.ts';
import { createQueue, type EvaluateJobData, evaluateJobId, queueSettingsFromEnv } from './queues.ts';
import { closeRedis, createRedis, type RedisClient } from './redis.ts';
import { TrainingIndex } from './training-index.ts';

/**
 * Scores and feedback against a real Redis: written onto succeeded records only, without
 * moving them or adding events, indexed per tenant and stage in the order they happen;
 * and every success handed to the evaluate queue by the lifecycle, once.
 */

const PREFIX = '{quality}:';
let server: RedisServerHandle;
let redis: RedisClient;
let store: GenerationStore;
let index: TrainingIndex;
let queue: Queue<EvaluateJobData>;
let lifecycle: GenerationLifecycle;

beforeAll(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url, { forWorker: true });
  store = new GenerationStore(redis, { keyPrefix: PREFIX });
  index = new TrainingIndex(redis, new RedisKeys(PREFIX));
  queue = createQueue('evaluate', redis, {
    ...queueSettingsFromEnv(parseEvaluatorEnv({})),
    prefix: '{quality}',
  });
  lifecycle = new GenerationLifecycle({
    store,
    metrics: new ServiceMetrics({ collectDefaults: false }),
    webhooks: null,
    evaluations: new EvaluationRequests(queue),
    log: { error() {} },
  });
});

afterAll(async () => {
  await queue?.close();
  if (redis) await closeRedis(redis);
  await server?.stop();
});

const scores = (value: number): StageQuality => ({
  scored_at: new Date().toISOString(),
  scores: { text_legibility: value },
  scorers: ['ocr'],
  outputs: [{ index: 0, scores: { text_legibility: value }, spans: [{ text: 'HI', read: 'HI', cer: 0 }] }],
});

function entry(overrides: Partial<Feedback> = {}): Feedback {
  return {
    id: `fb_${Math.random().toString(36).slice(2)}`,
    created_at: new Date().toISOString(),
    stage: 'decode',
    labels: [],
    rating: 3,
    ...overrides,
  };
}

async function succeeded(overrides: Parameters<typeof queuedRecord>[0] = {}): Promise<GenerationRecord> {
  const record = queuedRecord(overrides);
  await lifecycle.create(record, 0);
  return (await lifecycle.succeed(record.id, { outputs: [] }))!;
}

describe('annotations', () => {
  it('hands every success to the evaluate queue once, and nothing else', async () => {
    const ok = await succeeded();
    const failed = queuedRecord();
    await lifecycle.create(failed, 0);
    await lifecycle.fail(failed.id, { code: 'model_error', message: 'x' });
    await lifecycle.reannounce(ok);
    expect((await queue.getJob(evaluateJobId(ok.id)))?.data).toEqual({ generationId: ok.id, tenant: 'acme' });
    expect(await queue.getJob(evaluateJobId(failed.id))).toBeUndefined();
    expect(await queue.count()).toBe(1);
  });

  it('hands a plan-only success to the evaluate queue the same way, once', async () => {
    const record = queuedRecord({ input: { decode: false } });
    await lifecycle.create(record, 0);
    await lifecycle.startStage(record, 'planning');
    expect(await lifecycle.succeedWithPlan(record.id, {})).toMatchObject({
      status: 'succeeded',
      outputs: [],
    });
    expect(await lifecycle.succeedWithPlan(record.id, {})).toBeNull();
    const job = await queue.getJob(evaluateJobId(record.id));
    expect(job?.data).toEqual({ generationId: record.id, tenant: 'acme' });
  });

  it('writes scores onto a succeeded record without moving it or adding an event', async () => {
    const record = await succeeded();
    const events = await store.readEvents(record.id);
    const quality = scores(0.5);
    const written = await lifecycle.recordQuality(record.id, 'decode', quality);
    expect(written?.outcome).toBe('ok');
    const after = await store.get(record.id);
    expect(after).toEqual({ ...record, quality: { decode: quality } });
    expect(await store.readEvents(record.id)).toHaveLength(events.length);
    // The other stage lands beside it.
    await lifecycle.recordQuality(record.id, 'plan', { ...scores(1), outputs: undefined });
    expect(Object.keys((await store.get(record.id))!.quality!).sort()).toEqual(['decode', 'plan']);
  });

  it('refuses annotations on a record that has not succeeded, and says so for an unknown one', async () => {
    const running = queuedRecord();
    await lifecycle.create(running, 0);
    expect((await lifecycle.recordQuality(running.id, 'plan', scores(1)))?.outcome).toBe('not_succeeded');
    expect(
      (await lifecycle.addFeedback(running.id, entry(), { stages: ['decode'], ratesImages: true }))?.outcome,
    ).toBe('not_succeeded');
    expect((await store.get(running.id))?.quality).toBeUndefined();
    expect(await lifecycle.recordQuality('gen_missing', 'plan', scores(1))).toBeNull();
  });

  it('appends feedback once per id, keeps empty label lists as lists, and stops at the limit', async () => {
    const record = await succeeded();
    const first = entry();
    expect(
      (await lifecycle.addFeedback(record.id, first, { stages: ['decode'], ratesImages: true }))?.outcome,
    ).toBe('ok');
    expect(
      (await lifecycle.addFeedback(record.id, first, { stages: ['decode'], ratesImages: true }))?.outcome,
    ).toBe('exists');
    expect((await store.get(record.id))?.feedback).toEqual([first]);
    for (let i = 1; i < MAX_FEEDBACK_PER_GENERATION; i += 1) {
      await lifecycle.addFeedback(record.id, entry(), { stages: ['decode'], ratesImages: false });
    }
    const full = await lifecycle.addFeedback(record.id, entry(), { stages: ['decode'], ratesImages: false });
    expect(full?.outcome).toBe('full');
    expect(full?.record.feedback).toHaveLength(MAX_FEEDBACK_PER_GENERATION);
  });

  it('indexes each tenant and stage in annotation order, moving a generation annotated again to the end', async () => {
    const tenant = 'indexed';
    const [a, b, c] = [
      await succeeded({ tenant }),
      await succeeded({ tenant }),
      await succeeded({ tenant: 'elsewhere' }),
    ];
    await lifecycle.recordQuality(a.id, 'decode', scores(1));
    await lifecycle.recordQuality(b.id, 'decode', scores(1));
    await lifecycle.recordQuality(c.id, 'decode', scores(1));
    await lifecycle.addFeedback(a.id, entry({ stage: 'both' }), {
      stages: ['plan', 'decode'],
      ratesImages: true,
    });

    const decode = await index.page(tenant, 'decode', { minScore: '0', cursorId: '', limit: 10 });
    expect(decode.map((e) => e.record.id)).toEqual([b.id, a.id]);
    expect(Number(decode[1]!.score)).toBeGreaterThan(Number(decode[0]!.score));
    expect(
      (await index.page(tenant, 'plan', { minScore: '0', cursorId: '', limit: 10 })).map((e) => e.record.id),
    ).toEqual([a.id]);
    // From a position on: entries at it with a smaller id are passed, the one at it comes again.
    const from = await index.page(tenant, 'decode', {
      minScore: decode[1]!.score,
      cursorId: a.id,
      limit: 10,
    });
    expect(from.map((e) => e.record.id)).toEqual([a.id]);
    expect((await index.ratedRenders(a.id)).map((r) => r.id)).toEqual([a.id]);
    expect(await index.records([a.id, 'gen_missing'])).toEqual([await store.get(a.id), null]);
  });

  it('drops index entries whose record expired', async () => {
    const record = await succeeded({ tenant: 'expiring' });
    await lifecycle.recordQuality(record.id, 'plan', scores(1));
    await redis.del(store.keys.record(record.id));
    expect(await index.page('expiring', 'plan', { minScore: '0', cursorId: '', limit: 10 })).toEqual([]);
    expect(await redis.zcard(store.keys.trainingIndex('expiring', 'plan'))).toBe(0);
  });
});
