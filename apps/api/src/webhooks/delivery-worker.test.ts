import type { GenerationRecord, WebhookEvent } from '@glm-image/shared/generation';
import { readDeliveryLog } from '@glm-image/shared/webhooks/delivery-log';
import { isEndpointDisabled } from '@glm-image/shared/webhooks/disabled-endpoints';
import { type WebhookJobData, WebhookNotifier, webhookJobId } from '@glm-image/shared/webhooks/notifier';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { type Job, Queue, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type ScriptedAnswer, startTestReceiver, type TestReceiver } from '../testing/webhook-receiver.ts';
import {
  startWebhookDeliveryWorker,
  type WebhookDeliveryOutcome,
  type WebhookDeliveryWorkerOptions,
} from './delivery-worker.ts';
import { generateWebhookSecret } from './signing.ts';
import type { WebhookResolver } from './ssrf-guard.ts';

const SECRET = generateWebhookSecret();
let server: RedisServerHandle;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

interface Harness {
  queue: Queue<WebhookJobData>;
  worker: Worker<WebhookJobData>;
  notifier: WebhookNotifier;
  receiver: TestReceiver;
  outcomes: WebhookDeliveryOutcome[];
}
const open: Harness[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.worker.close();
    await h.queue.obliterate({ force: true }).catch(() => {});
    await h.queue.close();
    await h.receiver.close();
  }
});

let counter = 0;
async function harness(
  answer: (index: number) => ScriptedAnswer,
  overrides: Partial<WebhookDeliveryWorkerOptions> = {},
): Promise<Harness> {
  counter += 1;
  const queueName = `webhook-test-${counter}`;
  const connection = { host: '127.0.0.1', port: server.port, maxRetriesPerRequest: null };
  const queue = new Queue<WebhookJobData>(queueName, { connection, prefix: '{glm}' });
  const receiver = await startTestReceiver(answer);
  const outcomes: WebhookDeliveryOutcome[] = [];
  const worker = startWebhookDeliveryWorker({
    connection,
    queueName,
    prefix: '{glm}',
    secrets: { acme: SECRET },
    allowList: '127.0.0.1',
    store: { keyPrefix: '{glm}:', retentionSeconds: 3600 },
    concurrency: 2,
    timeoutMs: 2000,
    backoff: { baseMs: 20, maxMs: 200 },
    onDelivery: (o) => outcomes.push(o),
    // The API renders the generation object; the delivery mechanics only need fixed bytes.
    renderBody: (data) =>
      JSON.stringify({
        type: data.event,
        timestamp: data.timestamp,
        data: { id: data.record.id, status: data.record.status },
      }),
    ...overrides,
  });
  const notifier = new WebhookNotifier(queue, { retentionSeconds: 3600, attempts: 5 });
  const h = { queue, worker, notifier, receiver, outcomes };
  open.push(h);
  return h;
}

function record(url: string, events: WebhookEvent[] = [], tenant = 'acme'): GenerationRecord {
  counter += 1;
  return {
    id: `gen${counter}x${Date.now()}`,
    tenant,
    status: 'succeeded',
    created_at: new Date().toISOString(),
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
      webhook: { url, events },
    },
    progress: { stage: 'decoding' },
    outputs: [],
    timings: {},
  };
}

async function finished(queue: Queue<WebhookJobData>, id: string): Promise<Job<WebhookJobData>> {
  let job: Job<WebhookJobData> | undefined;
  await vi.waitFor(
    async () => {
      job = await queue.getJob(id);
      const state = await job?.getState();
      expect(['completed', 'failed']).toContain(state);
    },
    { timeout: 120_000, interval: 50 },
  );
  // Read again: the copy above may predate the move to its final state (attemptsMade lags).
  return (await queue.getJob(id)) ?? job!;
}

const plainHeaders = (h: TestReceiver['requests'][number]['headers']) =>
  Object.fromEntries(Object.entries(h).filter((e): e is [string, string] => typeof e[1] === 'string'));

describe('webhook delivery worker', () => {
  it('delivers a job enqueued with its body already rendered (by an older release) as it is', async () => {
    const h = await harness(() => ({ status: 200 }));
    const body = JSON.stringify({
      type: 'generation.failed',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: { id: 'gen_old' },
    });
    const payload = {
      generationId: 'gen_old',
      tenant: 'acme',
      event: 'generation.failed',
      url: `${h.receiver.url}/old`,
      webhookId: 'msg_gen_old_generation.failed',
      body,
    };
    await h.queue.add('generation.failed', payload as unknown as WebhookJobData, { jobId: 'gen_old-failed' });
    const job = await finished(h.queue, 'gen_old-failed');
    expect(await job.getState()).toBe('completed');
    expect(h.receiver.requests.map((r) => r.body)).toEqual([body]);
    expect(() =>
      new Webhook(SECRET).verify(body, plainHeaders(h.receiver.requests[0]!.headers)),
    ).not.toThrow();
  });

  it('delivers a signed webhook a Standard Webhooks receiver verifies, exactly once', async () => {
    const h = await harness(() => ({ status: 204 }));
    const r = record('');
    r.input.webhook!.url = `${h.receiver.url}/hook`;
    await h.notifier.notify(r, 'generation.succeeded');
    const job = await finished(h.queue, webhookJobId(r.id, 'generation.succeeded'));
    expect(await job.getState()).toBe('completed');

    expect(h.receiver.requests).toHaveLength(1);
    const got = h.receiver.requests[0]!;
    const headers = plainHeaders(got.headers);
    expect(headers['webhook-id']).toBe(`msg_${r.id}_generation.succeeded`);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(SECRET).verify(got.body, headers)).toEqual({
      type: 'generation.succeeded',
      timestamp: expect.any(String),
      data: { id: r.id, status: 'succeeded' },
    });
    expect(() => new Webhook(SECRET).verify(got.body.replace('succeeded', 'failed'), headers)).toThrow(
      WebhookVerificationError,
    );

    expect(await readDeliveryLog(redis, r.id)).toMatchObject({
      deliveries: 1,
      last_status: 204,
      attempts: [{ event: 'generation.succeeded', attempt: 1, status: 204, duration_ms: expect.any(Number) }],
    });
    expect(h.outcomes.map((o) => o.result)).toEqual(['delivered']);

    // Announcing the same event again (a retried worker step) must not deliver twice.
    await h.notifier.notify(r, 'generation.succeeded');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.receiver.requests).toHaveLength(1);
  });

  it('retries through failures with the same webhook-id until a 2xx', async () => {
    const h = await harness((i) => ({ status: i < 2 ? 500 : 200 }));
    const r = record('');
    r.input.webhook!.url = `${h.receiver.url}/hook`;
    await h.notifier.notify(r, 'generation.failed');
    const job = await finished(h.queue, webhookJobId(r.id, 'generation.failed'));
    expect(await job.getState()).toBe('completed');

    expect(h.receiver.requests).toHaveLength(3);
    const ids = new Set(h.receiver.requests.map((q) => q.headers['webhook-id']));
    expect(ids).toEqual(new Set([`msg_${r.id}_generation.failed`]));
    for (const q of h.receiver.requests)
      expect(() => new Webhook(SECRET).verify(q.body, plainHeaders(q.headers))).not.toThrow();
    const log = await readDeliveryLog(redis, r.id);
    expect(log?.attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 500],
      [2, 500],
      [3, 200],
    ]);
    expect(log).toMatchObject({ deliveries: 1, last_status: 200 });
    expect(h.outcomes.map((o) => o.result)).toEqual(['retrying', 'retrying', 'delivered']);
  });

  it('waits as long as Retry-After asks before trying again', async () => {
    const h = await harness((i) =>
      i === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 },
    );
    const r = record('');
    r.input.webhook!.url = `${h.receiver.url}/hook`;
    await h.notifier.notify(r, 'generation.succeeded');
    const job = await finished(h.queue, webhookJobId(r.id, 'generation.succeeded'));
    expect(await job.getState()).toBe('completed');
    const [first, second] = h.receiver.requests;
    // Without Retry-After the 20 ms backoff would retry almost at once.
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(950);
    expect((await readDeliveryLog(redis, r.id))?.attempts.map((a) => a.status)).toEqual([429, 200]);
  });

  it('disables an endpoint that answers 410 Gone and skips it from then on', async () => {
    const h = await harness(() => ({ status: 410 }));
    const r = record('', ['generation.planned', 'generation.succeeded']);
    const url = `${h.receiver.url}/gone`;
    r.input.webhook!.url = url;
    await h.notifier.notify(r, 'generation.planned');
    const job = await finished(h.queue, webhookJobId(r.id, 'generation.planned'));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(await isEndpointDisabled(redis, 'acme', url)).toBe(true);
    expect(h.outcomes.map((o) => o.result)).toEqual(['disabled']);

    await h.notifier.notify(r, 'generation.succeeded');
    expect(await h.queue.getJob(webhookJobId(r.id, 'generation.succeeded'))).toBeUndefined();
    expect(h.receiver.requests).toHaveLength(1);
    expect((await readDeliveryLog(redis, r.id))?.attempts.map((a) => a.status ?? a.error)).toEqual([
      410,
      'webhook_endpoint_disabled',
    ]);
  });

  it('fails an SSRF-refused target at once, without retries or traffic', async () => {
    const resolver: WebhookResolver = async () => [{ address: '127.0.0.1', family: 4 }];
    const h = await harness(() => ({ status: 200 }), { allowList: '', resolver });
    const literal = record('http://10.0.0.1/hook');
    const rebinding = record('');
    rebinding.input.webhook!.url = `http://hooks.example.com:${h.receiver.port}/hook`;
    await h.notifier.notify(literal, 'generation.succeeded');
    await h.notifier.notify(rebinding, 'generation.succeeded');
    for (const r of [literal, rebinding]) {
      const job = await finished(h.queue, webhookJobId(r.id, 'generation.succeeded'));
      expect(await job.getState()).toBe('failed');
      expect(job.attemptsMade).toBe(1);
      expect(job.failedReason).toMatch(/refused/);
      expect(await readDeliveryLog(redis, r.id)).toMatchObject({
        deliveries: 0,
        last_status: 'webhook_target_refused',
      });
    }
    expect(h.receiver.requests).toHaveLength(0);
    expect(h.outcomes.map((o) => o.result)).toEqual(['refused', 'refused']);
  });

  it('gives up after the last attempt and says so', async () => {
    const h = await harness(() => ({ status: 503 }));
    const r = record('');
    r.input.webhook!.url = `${h.receiver.url}/down`;
    const notifier = new WebhookNotifier(h.queue, { attempts: 2 });
    await notifier.notify(r, 'generation.canceled');
    const job = await finished(h.queue, webhookJobId(r.id, 'generation.canceled'));
    expect(await job.getState()).toBe('failed');
    expect(h.receiver.requests).toHaveLength(2);
    expect(h.outcomes.map((o) => o.result)).toEqual(['retrying', 'failed']);
  });

  it('refuses to send unsigned webhooks for a tenant without a secret', async () => {
    const h = await harness(() => ({ status: 200 }));
    const r = record('', [], 'initech');
    r.input.webhook!.url = `${h.receiver.url}/hook`;
    await h.notifier.notify(r, 'generation.succeeded');
    const job = await finished(h.queue, webhookJobId(r.id, 'generation.succeeded'));
    expect(await job.getState()).toBe('failed');
    expect(job.attemptsMade).toBe(1);
    expect(h.receiver.requests).toHaveLength(0);
    expect((await readDeliveryLog(redis, r.id))?.last_status).toBe('webhook_secret_missing');
  });
});
