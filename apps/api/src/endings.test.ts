import type { GenerationRecord } from '@glm-image/shared/generation';
import { queuedRecord } from '@glm-image/testing/records';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newGenerationId } from './services/admission.ts';
import { startReconciler } from './services/reconciler.ts';
import { type ApiStack, startApiStack } from './testing/api-stack.ts';
import { type ReceivedRequest, startTestReceiver, type TestReceiver } from './testing/webhook-receiver.ts';
import { startApiWebhookDelivery, type WebhookDelivery } from './webhooks/api-delivery.ts';
import { generateWebhookSecret } from './webhooks/signing.ts';

/**
 * Every ending the API decides itself goes through the lifecycle like the workers'
 * endings: its webhook is delivered (signed, to a real receiver on loopback) and it is
 * counted once in glm_generations_total. No worker runs here.
 */

const SECRET = generateWebhookSecret();
let stack: ApiStack;
let receiver: TestReceiver;
let delivery: WebhookDelivery | null;

beforeAll(async () => {
  stack = await startApiStack({
    env: {
      WEBHOOK_ALLOWLIST: '127.0.0.1',
      WEBHOOK_SECRETS: JSON.stringify({ acme: SECRET }),
    },
  });
  receiver = await startTestReceiver();
  delivery = startApiWebhookDelivery(stack.context.env, {
    metrics: stack.context.metrics,
    presenter: stack.app.presenter,
    log: { info() {}, warn() {}, error() {} },
  });
});
afterAll(async () => {
  await delivery?.close();
  await receiver?.close();
  await stack?.close();
});

async function eventually<T>(read: () => T | Promise<T>, until: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = await read();
    if (until(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** glm_generations_total for one status and code, as the API's /metrics reports it. */
async function endings(status: string, code = 'none'): Promise<number> {
  const text = (await stack.app.inject({ url: '/metrics' })).body;
  const line = text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('glm_generations_total{') &&
        l.includes(`status="${status}"`) &&
        l.includes(`code="${code}"`),
    );
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** A reconciler on this stack's Redis whose clock the test sets; it never runs on its own timer. */
function reconciler(now: () => number) {
  return startReconciler({
    redis: stack.context.redis,
    store: stack.context.store,
    lifecycle: stack.context.lifecycle,
    jobs: stack.app.jobs,
    strandedAfterMs: 15_000,
    intervalMs: 3_600_000,
    now,
  });
}

/** One reconciler pass now, whoever held the lock before. */
async function reconcileNow(reconciler: { reconcileOnce(): Promise<unknown> }) {
  await stack.context.redis.del(stack.context.store.keys.reconcilerLock);
  return reconciler.reconcileOnce();
}

/** The verified webhook the receiver got for `id`, once it arrives. */
async function deliveredFor(id: string): Promise<{ type: string; data: { id: string; status: string } }> {
  const request = await eventually<ReceivedRequest | undefined>(
    () => receiver.requests.find((r) => r.body.includes(id)),
    (r) => r !== undefined,
  );
  expect(request, `a webhook for ${id}`).toBeDefined();
  const headers = Object.fromEntries(
    ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((h) => [h, String(request!.headers[h])]),
  );
  return new Webhook(SECRET).verify(request!.body, headers) as {
    type: string;
    data: { id: string; status: string };
  };
}

function submit(payload: Record<string, unknown>) {
  return stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: stack.auth('acme'),
    payload: { webhook: { url: `${receiver.url}/hook` }, ...payload },
  });
}

describe('endings decided in the API', () => {
  it('a queued generation canceled by its client: webhook delivered, counted once', async () => {
    const before = await endings('canceled');
    const { id } = (await submit({ prompt: 'never mind' })).json();
    const canceled = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: stack.auth('acme'),
    });
    expect(canceled.json().status).toBe('canceled');
    // Canceling again is a no-op: it must not count a second ending.
    await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: stack.auth('acme'),
    });
    expect(await deliveredFor(id)).toMatchObject({
      type: 'generation.canceled',
      data: { id, status: 'canceled' },
    });
    expect(await endings('canceled')).toBe(before + 1);
  });

  it('a generation whose plan job could not be enqueued: 503, failed, webhook delivered, counted', async () => {
    const before = await endings('failed', 'service_unavailable');
    // The plan queue's event stream holds a value of the wrong type, so BullMQ's add
    // script fails inside Redis while the generation store, on other keys, still works.
    const eventsKey = stack.context.planQueue.keys['events'] ?? stack.context.planQueue.toKey('events');
    await stack.context.redis.del(eventsKey);
    await stack.context.redis.set(eventsKey, 'not a stream');
    let res: Awaited<ReturnType<typeof submit>>;
    try {
      res = await submit({ prompt: 'no room on the queue' });
    } finally {
      // BullMQ makes the stream again with its next event.
      await stack.context.redis.del(eventsKey);
    }
    expect(res.statusCode).toBe(503);
    expect(res.json().error.code).toBe('service_unavailable');
    const [failed] = (await stack.context.store.listByTenant('acme', { limit: 1 })).items;
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'service_unavailable' } });
    expect(await deliveredFor(failed!.id)).toMatchObject({
      type: 'generation.failed',
      data: { id: failed!.id, status: 'failed' },
    });
    expect(await endings('failed', 'service_unavailable')).toBe(before + 1);
  });

  it('a stranded re-render failed by the reconciler: webhook delivered, counted once', async () => {
    const before = await endings('failed', 'service_unavailable');
    // What an API process that died between storing a re-render and enqueuing its decode
    // job leaves behind: the record, counted and indexed, and no job.
    const id = newGenerationId();
    const record = queuedRecord({
      id,
      input: {
        prompt: 'again',
        webhook: { url: `${receiver.url}/hook`, events: ['generation.failed'] },
        source_generation_id: 'gen_source',
      },
      priority: 5,
    });
    await stack.context.lifecycle.create(record, 0);
    const later = Date.now() + 60_000;
    const r = reconciler(() => later);
    try {
      expect(await reconcileNow(r)).toMatchObject({ failed: 1 });
    } finally {
      r.stop();
    }
    expect(await stack.context.store.get(id)).toMatchObject({ status: 'failed' });
    expect(await deliveredFor(id)).toMatchObject({
      type: 'generation.failed',
      data: { id, status: 'failed' },
    });
    expect(await endings('failed', 'service_unavailable')).toBe(before + 1);
  });
});

describe('the reconciler', () => {
  function queued(): GenerationRecord {
    return queuedRecord({ id: newGenerationId(), input: { prompt: 'stranded' }, priority: 7 });
  }

  it('queues a stranded plan again, once, with the priority stored on the record', async () => {
    const record = queued();
    await stack.context.lifecycle.create(record, 0);
    expect(await stack.context.planQueue.getJob(record.id)).toBeUndefined();
    let clock = Date.now();
    const r = reconciler(() => clock);
    try {
      // Young: it may still be on its way to the queue; left alone.
      expect(await reconcileNow(r)).toMatchObject({ requeued: 0 });
      expect(await stack.context.planQueue.getJob(record.id)).toBeUndefined();
      clock += 60_000;
      expect(await reconcileNow(r)).toMatchObject({ requeued: 1 });
      const job = await stack.context.planQueue.getJob(record.id);
      expect(job?.data).toMatchObject({ generationId: record.id, tenant: 'acme' });
      expect(job?.opts.priority).toBe(7);
      // Settled: a later pass does not look at it again.
      expect(await reconcileNow(r)).toMatchObject({ requeued: 0 });
      expect(await stack.context.store.awaitingEnqueue(clock, 1000)).not.toContain(record.id);
    } finally {
      r.stop();
    }
  });

  it('lets a generation be when its job exists, and works on one replica at a time', async () => {
    const { id } = (
      await stack.app.inject({
        method: 'POST',
        url: '/v1/generations',
        headers: stack.auth('acme'),
        payload: { prompt: 'queued properly' },
      })
    ).json();
    // Admission confirmed the job: nothing awaits.
    const far = Date.now() + 60_000;
    expect(await stack.context.store.awaitingEnqueue(far, 1000)).not.toContain(id);
    await stack.context.redis.del(stack.context.store.keys.reconcilerLock);
    const a = reconciler(() => far);
    const b = reconciler(() => far);
    try {
      expect(await a.reconcileOnce()).not.toBeNull();
      expect(await b.reconcileOnce()).toBeNull();
    } finally {
      a.stop();
      b.stop();
    }
  });
});
