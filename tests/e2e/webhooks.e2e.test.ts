/**
 * Webhooks through the whole system: the planner and decoder announce events, the API
 * process delivers them, signed, to a real HTTP receiver on loopback (allow-listed, as an
 * operator would allow an internal receiver), and the generation shows the delivery log.
 * Signatures are checked with the `standardwebhooks` library, as a receiver would.
 */
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type ReceivedRequest,
  type ScriptedAnswer,
  startTestReceiver,
  type TestReceiver,
} from '../../apps/api/src/testing/webhook-receiver.ts';
import { generateWebhookSecret } from '../../apps/api/src/webhooks/signing.ts';
import { type E2eSystem, type GenerationView, startSystem } from './harness.ts';

const SECRET = generateWebhookSecret();
let system: E2eSystem;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  system = await startSystem({
    env: { WEBHOOK_ALLOWLIST: '127.0.0.1', WEBHOOK_SECRETS: JSON.stringify({ e2e: SECRET }) },
  });
});
afterEach(async () => {
  for (const receiver of receivers.splice(0)) await receiver.close();
});
afterAll(async () => {
  await system?.stop();
});

async function receiver(answer?: (index: number) => ScriptedAnswer): Promise<TestReceiver> {
  const started = await startTestReceiver(answer);
  receivers.push(started);
  return started;
}

interface WebhookAttempt {
  event: string;
  webhook_id: string;
  attempt: number;
  status?: number;
  error?: string;
}
type Delivered = GenerationView & {
  webhook: {
    url: string;
    events: string[];
    deliveries: number;
    last_status: number | string | null;
    attempts: WebhookAttempt[];
  };
};

/** Delivery is logged after the receiver answers, so the log lags the receiver a little. */
async function waitForDeliveries(id: string, deliveries: number): Promise<Delivered> {
  return (await system.client.waitFor(
    id,
    (g) => (g as Delivered).webhook?.deliveries >= deliveries,
    30_000,
  )) as Delivered;
}

function headersOf(request: ReceivedRequest): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers as IncomingHttpHeaders)) {
    if (typeof value === 'string') flat[name] = value;
  }
  return flat;
}

interface Payload {
  type: string;
  timestamp: string;
  data: GenerationView & { id: string; urls: { self: string } };
}

describe('webhooks, end to end', () => {
  it('delivers the requested events, signed, with the generation object as data', async () => {
    const hooks = await receiver();
    const submitted = await system.client.submit({
      prompt: 'a green square',
      width: 512,
      height: 512,
      steps: 4,
      seed: 5,
      webhook: { url: `${hooks.url}/hooks/glm`, events: ['generation.planned', 'generation.succeeded'] },
    });
    const done = await waitForDeliveries(submitted.id, 2);
    expect(done.status).toBe('succeeded');
    expect(hooks.requests).toHaveLength(2);

    const verifier = new Webhook(SECRET);
    const byType = new Map<string, { request: ReceivedRequest; payload: Payload }>();
    for (const request of hooks.requests) {
      expect(request.method).toBe('POST');
      expect(request.url).toBe('/hooks/glm');
      expect(request.headers['content-type']).toContain('application/json');
      const payload = verifier.verify(request.body, headersOf(request)) as Payload;
      byType.set(payload.type, { request, payload });
      // One changed byte in the body and the signature no longer holds.
      const tampered = request.body.replace(`"id":"${submitted.id}"`, '"id":"gen_forged"');
      expect(tampered).not.toBe(request.body);
      expect(() => verifier.verify(tampered, headersOf(request))).toThrow(WebhookVerificationError);
      expect(() => new Webhook(generateWebhookSecret()).verify(request.body, headersOf(request))).toThrow(
        WebhookVerificationError,
      );
    }
    expect([...byType.keys()].sort()).toEqual(['generation.planned', 'generation.succeeded']);

    const planned = byType.get('generation.planned')!;
    expect(planned.payload.data.id).toBe(submitted.id);
    expect(planned.payload.data.preview).toBeDefined();

    // The body carries the same object the API answers, so its output URL works as is.
    const succeeded = byType.get('generation.succeeded')!;
    const { webhook, ...publicView } = done;
    expect(succeeded.payload.data).toEqual(publicView);
    expect(succeeded.payload.data).not.toHaveProperty('tenant');
    const output = succeeded.payload.data.outputs[0]!;
    const image = await system.client.download(output.url);
    expect(image.byteLength).toBe(output.bytes);
    expect(createHash('sha256').update(image).digest('hex')).toBe(output.sha256);

    // The delivery log names each attempt by the webhook-id the receiver saw.
    expect(webhook).toMatchObject({
      url: `${hooks.url}/hooks/glm`,
      events: ['generation.planned', 'generation.succeeded'],
      deliveries: 2,
      last_status: 200,
    });
    expect(webhook.attempts).toHaveLength(2);
    for (const attempt of webhook.attempts) {
      const seen = byType.get(attempt.event)!.request.headers['webhook-id'];
      expect(attempt).toMatchObject({ webhook_id: seen, attempt: 1, status: 200 });
    }
    expect(planned.request.headers['webhook-id']).not.toBe(succeeded.request.headers['webhook-id']);
  });

  it('retries a receiver that failed, with the same webhook-id and body, until it answers 2xx', async () => {
    const hooks = await receiver((index) => ({ status: index === 0 ? 500 : 200 }));
    const submitted = await system.client.submit({
      prompt: 'a blue circle',
      width: 512,
      height: 512,
      steps: 2,
      webhook: { url: `${hooks.url}/flaky`, events: ['generation.succeeded'] },
    });
    const done = await waitForDeliveries(submitted.id, 1);
    expect(hooks.requests).toHaveLength(2);
    const [first, second] = hooks.requests as [ReceivedRequest, ReceivedRequest];
    expect(second.headers['webhook-id']).toBe(first.headers['webhook-id']);
    expect(second.body).toBe(first.body);
    const verifier = new Webhook(SECRET);
    for (const request of hooks.requests)
      expect(() => verifier.verify(request.body, headersOf(request))).not.toThrow();

    expect(done.webhook).toMatchObject({ deliveries: 1, last_status: 200 });
    expect(done.webhook.attempts.map((a) => [a.attempt, a.status])).toEqual([
      [1, 500],
      [2, 200],
    ]);
  });

  it('refuses a webhook target on a private network at submit, naming webhook.url', async () => {
    const res = await system.client.request('/v1/generations', {
      method: 'POST',
      body: JSON.stringify({ prompt: 'x', webhook: { url: 'http://10.0.0.1/hook' } }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('invalid_input');
    expect(body.error.message).toMatch(/^webhook\.url: /);
  });
});
