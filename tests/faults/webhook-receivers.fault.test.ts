/**
 * Webhook receivers that misbehave, each behind its own generation: one that is down
 * (nothing listens), one slower than the delivery timeout, one that answers 500, one
 * that answers 410 Gone, and one that answers 200 with a 1 GiB body. Holds:
 *
 * - every delivery ends in a definite state, read from the webhook queue itself: its job
 *   `completed` (delivered, or skipped for a disabled endpoint) or `failed` (retries used
 *   up, or 410), or, for an event after a 410, no job and an attempt-0 log entry;
 * - down, slow and 500 are retried up to the attempt limit, then fail; 410 stops at once
 *   and disables the endpoint: the receiver never gets another request;
 * - the 1 GiB body is neither read nor held: the delivery ends `delivered` after a few
 *   KiB, the receiver sees the connection closed long before its body ended, and the
 *   API process (which delivers webhooks) stays within a bounded memory;
 * - every generation ends `succeeded`, with its image, whatever its receiver did.
 */
import { parseCommonEnv } from '@glm-image/shared/env';
import type { WebhookEvent } from '@glm-image/shared/generation';
import { createQueue, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { DEFAULT_WEBHOOK_ATTEMPTS, webhookJobId } from '@glm-image/shared/webhooks/notifier';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type ScriptedAnswer,
  startTestReceiver,
  type TestReceiver,
} from '../../apps/api/src/testing/webhook-receiver.ts';
import { generateWebhookSecret } from '../../apps/api/src/webhooks/signing.ts';
import { freePort } from '../../packages/testing/src/free-port.ts';
import { type E2eSystem, type GenerationView, startSystem } from '../e2e/harness.ts';
import { metricValue } from './support/worker-metrics.ts';

const GIBIBYTE = 1024 ** 3;
/** Short, so that retries used up take seconds; each attempt still gets a real deadline. */
const DELIVERY_ENV = { WEBHOOK_TIMEOUT_MS: '1000', WEBHOOK_BACKOFF_MS: '50' };
const EVENTS: WebhookEvent[] = ['generation.planned', 'generation.succeeded'];
/** A bound the API's resident memory stays under while a receiver offers it 1 GiB. */
const MEMORY_HEADROOM_BYTES = 256 * 1024 ** 2;

interface Attempt {
  event: string;
  attempt: number;
  status?: number;
  error?: string;
}
type WithWebhook = GenerationView & { webhook?: { attempts: Attempt[] } };

let system: E2eSystem;
let webhookQueue: Queue;
let queueConnection: ReturnType<typeof createRedis>;
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  system = await startSystem({
    env: {
      WEBHOOK_ALLOWLIST: '127.0.0.1',
      WEBHOOK_SECRETS: JSON.stringify({ e2e: generateWebhookSecret() }),
      ...DELIVERY_ENV,
    },
  });
  queueConnection = createRedis(system.redis.url, { forWorker: true });
  webhookQueue = createQueue('webhook', queueConnection, queueSettingsFromEnv(parseCommonEnv({})));
});

afterAll(async () => {
  for (const receiver of receivers) await receiver.close();
  await webhookQueue?.close();
  if (queueConnection) await closeRedis(queueConnection);
  await system?.stop();
});

async function receiver(answer: () => ScriptedAnswer): Promise<TestReceiver> {
  const started = await startTestReceiver(answer);
  receivers.push(started);
  return started;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The API process's resident memory, from its own /metrics. */
function apiResidentBytes(): Promise<number> {
  return metricValue(new URL('/metrics', system.stack.apiUrl).toString(), 'process_resident_memory_bytes');
}

type Ending = 'completed' | 'failed' | 'not enqueued';

/** The definite state of one event's delivery, or null while it may still change. */
async function deliveryEnding(generation: WithWebhook, event: WebhookEvent): Promise<Ending | null> {
  const job = await webhookQueue.getJob(webhookJobId(generation.id, event));
  if (!job) {
    const notSent = generation.webhook?.attempts.some((a) => a.event === event && a.attempt === 0);
    return notSent ? 'not enqueued' : null;
  }
  const state = await job.getState();
  return state === 'completed' || state === 'failed' ? state : null;
}

it('every delivery to a misbehaving receiver ends in a definite state; the generations do not notice', async () => {
  const { client } = system;
  const down = `http://127.0.0.1:${await freePort()}`;
  const slow = await receiver(() => ({ status: 200, hang: true }));
  const failing = await receiver(() => ({ status: 500 }));
  const gone = await receiver(() => ({ status: 410 }));
  const huge = await receiver(() => ({ status: 200, streamBytes: GIBIBYTE }));
  const targets = {
    down: `${down}/hooks`,
    slow: `${slow.url}/hooks`,
    failing: `${failing.url}/hooks`,
    gone: `${gone.url}/hooks`,
    huge: `${huge.url}/hooks`,
  };
  const residentBefore = await apiResidentBytes();

  const submitted = Object.fromEntries(
    await Promise.all(
      Object.entries(targets).map(async ([name, url], i) => {
        const generation = await client.submit({
          prompt: `a kite over the sea, ${name}`,
          width: 512,
          height: 512,
          steps: 4,
          seed: 40 + i,
          webhook: { url, events: EVENTS },
        });
        return [name, generation.id] as const;
      }),
    ),
  ) as Record<keyof typeof targets, string>;

  // Wait for the endings, sampling the API's memory while the 1 GiB answer is offered.
  let residentPeak = residentBefore;
  const endings = new Map<string, Record<string, Ending>>();
  while (endings.size < Object.keys(submitted).length) {
    residentPeak = Math.max(residentPeak, await apiResidentBytes());
    for (const [name, id] of Object.entries(submitted)) {
      if (endings.has(name)) continue;
      const generation = (await client.get(id)) as WithWebhook;
      if (generation.status !== 'succeeded') continue;
      const states = await Promise.all(EVENTS.map((event) => deliveryEnding(generation, event)));
      if (states.every((state) => state !== null)) {
        endings.set(name, Object.fromEntries(EVENTS.map((event, i) => [event, states[i] as Ending])));
      }
    }
    await pause(100);
  }

  const views = Object.fromEntries(
    await Promise.all(
      Object.entries(submitted).map(
        async ([name, id]) => [name, (await client.get(id)) as WithWebhook] as const,
      ),
    ),
  );
  // The generations themselves: all succeeded with their image, whatever their receiver did.
  for (const view of Object.values(views)) {
    expect(view.status, JSON.stringify(view.error)).toBe('succeeded');
    expect(view.outputs).toHaveLength(1);
  }
  const attemptsOf = (name: string, event: WebhookEvent) =>
    (views[name]!.webhook?.attempts ?? []).filter((a) => a.event === event);

  // Down, slow and 500: every attempt made, each one failed, then the job failed for good.
  for (const [name, failure] of [
    ['down', (a: Attempt) => a.status === undefined && a.error === 'ECONNREFUSED'],
    ['slow', (a: Attempt) => a.status === undefined && a.error === 'webhook_timeout'],
    ['failing', (a: Attempt) => a.status === 500],
  ] as const) {
    for (const event of EVENTS) {
      expect(endings.get(name)?.[event], `${name} ${event}`).toBe('failed');
      const attempts = attemptsOf(name, event);
      expect(
        attempts.map((a) => a.attempt),
        `${name} ${event}`,
      ).toEqual(Array.from({ length: DEFAULT_WEBHOOK_ATTEMPTS }, (_, i) => i + 1));
      expect(attempts.every(failure), JSON.stringify(attempts)).toBe(true);
    }
  }
  expect(failing.requests).toHaveLength(DEFAULT_WEBHOOK_ATTEMPTS * EVENTS.length);

  // 410: one request in all. The event that got it failed at once; the other was never
  // sent (skipped, or not even enqueued once the endpoint was disabled).
  expect(gone.requests).toHaveLength(1);
  const goneAttempts = EVENTS.flatMap((event) => attemptsOf('gone', event));
  expect(goneAttempts.filter((a) => a.status === 410)).toHaveLength(1);
  expect(
    goneAttempts.filter((a) => a.status !== 410).every((a) => a.error === 'webhook_endpoint_disabled'),
  ).toBe(true);
  expect(Object.values(endings.get('gone')!)).toContain('failed');

  // 1 GiB offered: delivered on the first attempt of each event, the body cut off early.
  for (const event of EVENTS) {
    expect(endings.get('huge')?.[event]).toBe('completed');
    expect(attemptsOf('huge', event).map((a) => [a.attempt, a.status])).toEqual([[1, 200]]);
  }
  expect(huge.sent).toHaveLength(EVENTS.length);
  for (const answer of huge.sent) {
    expect(await answer.closed).toEqual({ ended: false });
    expect(answer.bytesWritten).toBeLessThan(GIBIBYTE / 16);
  }
  expect(residentPeak - residentBefore).toBeLessThan(MEMORY_HEADROOM_BYTES);

  console.info(
    `webhook receivers: API resident memory ${Math.round(residentBefore / 2 ** 20)} MiB before, ` +
      `peak ${Math.round(residentPeak / 2 ** 20)} MiB; huge-body receiver wrote ` +
      `${huge.sent.map((a) => Math.round(a.bytesWritten / 1024)).join(', ')} KiB of 1 GiB before the hang-up`,
  );
});
