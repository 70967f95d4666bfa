import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from './testing/api-stack.ts';
import { TEST_WEBHOOK_HOSTS, tableResolver } from './testing/table-resolver.ts';
import { type ScriptedAnswer, startTestReceiver } from './testing/webhook-receiver.ts';
import { startApiWebhookDelivery, type WebhookDelivery } from './webhooks/api-delivery.ts';
import { generateWebhookSecret } from './webhooks/signing.ts';

/**
 * Webhooks as the API handles them: targets that could never be delivered to are
 * refused at submit, the generation shows its delivery log, and the delivery worker the
 * process runs sends, logs and counts every attempt. Host names resolve from a table;
 * the only sockets opened go to loopback.
 */

const dns = tableResolver({ ...TEST_WEBHOOK_HOSTS, 'hooks.internal.test': ['10.9.9.9'] });
let stack: ApiStack;
let delivery: WebhookDelivery | null;

beforeAll(async () => {
  stack = await startApiStack({
    dns,
    env: {
      WEBHOOK_ALLOWLIST: 'hooks.internal.test,192.168.7.0/24,127.0.0.1',
      WEBHOOK_SECRETS: JSON.stringify({ acme: generateWebhookSecret() }),
    },
  });
  delivery = startApiWebhookDelivery(stack.context.env, {
    metrics: stack.context.metrics,
    presenter: stack.app.presenter,
    log: { info() {}, warn() {}, error() {} },
    resolver: dns,
  });
});
afterAll(async () => {
  await delivery?.close();
  await stack?.close();
});

function submit(webhook: Record<string, unknown>) {
  return stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: stack.auth('acme'),
    payload: { prompt: 'hooked', webhook },
  });
}

async function read(id: string) {
  return (await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('acme') })).json();
}

describe('webhook targets at submit', () => {
  it.each([
    ['a private address', 'http://10.0.0.1/hook', 'private'],
    ['the loopback name', 'http://localhost/hook', 'local or metadata host name'],
    ['an IPv6 loopback address', 'http://[::1]:8080/hook', 'loopback'],
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data', 'metadata'],
    ['a name that resolves to a private address', 'https://hooks.example.test/in', 'private address'],
  ])('answers 400 naming webhook.url for %s', async (_what, url, reason) => {
    const res = await submit({ url });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_input');
    expect(res.json().error.message).toMatch(/^webhook\.url: /);
    expect(res.json().error.message).toContain(reason);
  });

  it('resolves names through the configured resolver, not the network', async () => {
    await submit({ url: 'https://hooks.example.test/again' });
    expect(dns.lookups).toContain('hooks.example.test');
  });

  it.each([
    ['a public name', 'https://hooks.example.com/in'],
    ['a name with public IPv4 and IPv6 addresses', 'https://receiver.example.net/in'],
    ['an allow-listed name that resolves to a private address', 'http://hooks.internal.test/in'],
    ['an address in an allow-listed range', 'http://192.168.7.20:9000/in'],
    ['a name that does not resolve yet: the delivery log will tell', 'https://not-yet.example.org/in'],
  ])('accepts %s', async (_what, url) => {
    expect((await submit({ url })).statusCode).toBe(202);
  });

  it('refuses a webhook for a tenant without a signing secret, naming webhook', async () => {
    // globex has no secret in this stack: its receiver could never verify a delivery.
    const res = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('globex'),
      payload: { prompt: 'hooked', webhook: { url: 'https://hooks.example.com/in' } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/^webhook: /),
    });
    const plain = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('globex'),
      payload: { prompt: 'no hook' },
    });
    expect(plain.statusCode).toBe(202);
  });

  it('refuses the same targets for re-renders', async () => {
    const { id } = (await submit({ url: 'https://hooks.example.com/in' })).json();
    await stack.context.planQueue.remove(id);
    await stack.advance(id, [['planning'], ['decoding'], ['succeeded']]);
    const res = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/renders`,
      headers: stack.auth('acme'),
      payload: { webhook: { url: 'http://10.0.0.1/hook' } },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/^webhook\.url: /);
  });
});

describe('the delivery log on the generation', () => {
  it('shows the webhook with no attempts yet, and no webhook field when none was asked for', async () => {
    const submitted = await submit({ url: 'https://hooks.example.com/in', events: ['generation.planned'] });
    expect(submitted.json().webhook).toEqual({
      url: 'https://hooks.example.com/in',
      events: ['generation.planned'],
      deliveries: 0,
      last_status: null,
      attempts: [],
    });
    const plain = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('acme'),
      payload: { prompt: 'no hook' },
    });
    expect(plain.json()).not.toHaveProperty('webhook');
  });

  it('is described in the OpenAPI document', async () => {
    const doc = (await stack.app.inject({ url: '/openapi.json' })).json();
    const viewRef: string =
      doc.paths['/v1/generations/{id}'].get.responses['200'].content['application/json'].schema.$ref;
    const view = doc.components.schemas[viewRef.split('/').pop()!];
    const webhook = view.properties.webhook;
    expect(Object.keys(webhook.properties)).toEqual(
      expect.arrayContaining(['url', 'events', 'deliveries', 'last_status', 'attempts']),
    );
    expect(Object.keys(webhook.properties.attempts.items.properties)).toEqual(
      expect.arrayContaining(['event', 'webhook_id', 'attempt', 'at', 'status', 'error', 'duration_ms']),
    );
  });
});

describe('the delivery worker in the API process', () => {
  /** Submits with a webhook for `generation.canceled` and cancels at once, which the API announces itself. */
  async function cancelWithWebhook(url: string): Promise<string> {
    const { id } = (await submit({ url, events: ['generation.canceled'] })).json();
    await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: stack.auth('acme'),
    });
    return id;
  }

  async function eventually<T>(read: () => Promise<T>, until: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const value = await read();
      if (until(value) || Date.now() > deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function deliveryCount(outcome: string): Promise<number> {
    const text = (await stack.app.inject({ url: '/metrics' })).body;
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`glm_webhook_deliveries_total{outcome="${outcome}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  it('delivers, logs the attempt on the generation and counts it', async () => {
    const receiver = await startTestReceiver();
    try {
      const before = await deliveryCount('delivered');
      const id = await cancelWithWebhook(`${receiver.url}/hook`);
      const view = await eventually(
        () => read(id),
        (g) => g.webhook.deliveries === 1,
      );
      expect(receiver.requests).toHaveLength(1);
      expect(JSON.parse(receiver.requests[0]!.body)).toMatchObject({
        type: 'generation.canceled',
        data: { id, status: 'canceled' },
      });
      expect(view.webhook).toMatchObject({
        deliveries: 1,
        last_status: 200,
        attempts: [
          {
            event: 'generation.canceled',
            webhook_id: receiver.requests[0]!.headers['webhook-id'],
            attempt: 1,
            status: 200,
          },
        ],
      });
      expect(
        await eventually(
          () => deliveryCount('delivered'),
          (n) => n === before + 1,
        ),
      ).toBe(before + 1);
    } finally {
      await receiver.close();
    }
  });

  it('counts a 410 Gone as failed for good', async () => {
    const receiver = await startTestReceiver((): ScriptedAnswer => ({ status: 410 }));
    try {
      const before = await deliveryCount('failed');
      const id = await cancelWithWebhook(`${receiver.url}/gone`);
      const view = await eventually(
        () => read(id),
        (g) => g.webhook.attempts.length === 1,
      );
      expect(view.webhook).toMatchObject({ deliveries: 0, last_status: 410 });
      expect(
        await eventually(
          () => deliveryCount('failed'),
          (n) => n === before + 1,
        ),
      ).toBe(before + 1);
    } finally {
      await receiver.close();
    }
  });
});
