import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerationRecord, WebhookEvent } from '../generation.ts';
import { readDeliveryLog } from './delivery-log.ts';
import { disableEndpoint } from './disabled-endpoints.ts';
import { type WebhookJobData, WebhookNotifier, webhookJobId } from './notifier.ts';

let server: RedisServerHandle;
let redis: Redis;
let queue: Queue<WebhookJobData>;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
  queue = new Queue<WebhookJobData>('webhook-notifier-test', {
    connection: { host: '127.0.0.1', port: server.port },
    prefix: '{glm}',
  });
});

afterAll(async () => {
  await queue?.obliterate({ force: true }).catch(() => {});
  await queue?.close();
  redis?.disconnect();
  await server?.stop();
});

let counter = 0;
function record(webhook?: { url: string; events: WebhookEvent[] }, tenant = 'acme'): GenerationRecord {
  counter += 1;
  return {
    id: `gen${counter}`,
    tenant,
    status: 'succeeded',
    created_at: '2025-01-01T00:00:00.000Z',
    input: {
      prompt: 'a lighthouse',
      width: 256,
      height: 256,
      seed: 1,
      steps: 4,
      guidance_scale: 1,
      temperature: 1,
      top_p: 1,
      n: 1,
      output_format: 'png',
      ...(webhook ? { webhook } : {}),
    },
    progress: { stage: 'decoding' },
    outputs: [],
    timings: {},
  };
}

describe('WebhookNotifier', () => {
  const notifier = () => new WebhookNotifier(queue, { retentionSeconds: 3600 });

  it('does nothing when the request asked for no webhook', async () => {
    const r = record();
    await notifier().notify(r, 'generation.succeeded');
    expect(await queue.getJob(webhookJobId(r.id, 'generation.succeeded'))).toBeUndefined();
  });

  it('enqueues the delivery job with the record as it was at the event', async () => {
    const r = record({ url: 'https://hooks.example.com/a', events: ['generation.succeeded'] });
    await notifier().notify(r, 'generation.succeeded');
    const job = await queue.getJob(webhookJobId(r.id, 'generation.succeeded'));
    expect(job?.id).toBe(`${r.id}-generation.succeeded`);
    expect(job?.data).toMatchObject({
      generationId: r.id,
      tenant: 'acme',
      event: 'generation.succeeded',
      url: 'https://hooks.example.com/a',
      webhookId: `msg_${r.id}_generation.succeeded`,
    });
    expect(job?.data.record).toEqual(r);
    expect(Number.isNaN(Date.parse(job?.data.timestamp ?? ''))).toBe(false);
    expect(job?.opts.attempts).toBeGreaterThan(1);
  });

  it('respects the requested events', async () => {
    const r = record({ url: 'https://hooks.example.com/b', events: ['generation.planned'] });
    await notifier().notify(r, 'generation.succeeded');
    await notifier().notify(r, 'generation.planned');
    expect(await queue.getJob(webhookJobId(r.id, 'generation.succeeded'))).toBeUndefined();
    expect(await queue.getJob(webhookJobId(r.id, 'generation.planned'))).toBeDefined();
  });

  it('defaults to the terminal events when none are named', async () => {
    const r = record({ url: 'https://hooks.example.com/c', events: [] });
    for (const event of ['generation.planned', 'generation.failed', 'generation.canceled'] as const) {
      await notifier().notify(r, event);
    }
    expect(await queue.getJob(webhookJobId(r.id, 'generation.planned'))).toBeUndefined();
    expect(await queue.getJob(webhookJobId(r.id, 'generation.failed'))).toBeDefined();
    expect(await queue.getJob(webhookJobId(r.id, 'generation.canceled'))).toBeDefined();
  });

  it('enqueues an event once however often it is announced', async () => {
    const r = record({ url: 'https://hooks.example.com/d', events: ['generation.succeeded'] });
    const before = await queue.count();
    await Promise.all([1, 2, 3].map(() => notifier().notify(r, 'generation.succeeded')));
    await notifier().notify({ ...r, outputs: [] }, 'generation.succeeded');
    expect((await queue.count()) - before).toBe(1);
  });

  it('skips a disabled endpoint and logs the skip', async () => {
    const r = record({ url: 'https://gone.example.com/hook', events: ['generation.succeeded'] }, 'globex');
    await disableEndpoint(redis, 'globex', 'https://gone.example.com/hook');
    await notifier().notify(r, 'generation.succeeded');
    expect(await queue.getJob(webhookJobId(r.id, 'generation.succeeded'))).toBeUndefined();
    const log = await readDeliveryLog(redis, r.id);
    expect(log).toMatchObject({
      deliveries: 0,
      last_status: 'webhook_endpoint_disabled',
      attempts: [{ event: 'generation.succeeded', error: 'webhook_endpoint_disabled', attempt: 0 }],
    });
    expect(await redis.ttl(`{glm}:gen:${r.id}:webhook`)).toBeGreaterThan(3000);
  });
});
