/**
 * The client's retries against the real API (in-process, on a real Redis and S3 server,
 * no workers): 429s wait out Retry-After, 503s back off until Redis is back, and a
 * submit whose answer was lost on the way is sent again under the same Idempotency-Key
 * without creating a second generation.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, startApiStack } from '../../apps/api/src/testing/api-stack.ts';
import {
  ConnectionError,
  GlmImageClient,
  NotFoundError,
  RateLimitError,
  type RetryEvent,
  type RetryOptions,
} from '../../packages/client/src/index.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';

let stack: Awaited<ReturnType<typeof startApiStack>>;
let apiUrl: string;

beforeAll(async () => {
  // A one-second rate-limit window, so that Retry-After is short.
  stack = await startApiStack({ rateLimitWindowMs: 1000 });
  await stack.app.listen({ port: 0, host: '127.0.0.1' });
  apiUrl = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await stack?.close();
});

function client(key: keyof typeof KEYS, retry: RetryOptions = {}, baseUrl = apiUrl) {
  const retries: RetryEvent[] = [];
  const sdk = new GlmImageClient({
    baseUrl,
    apiKey: KEYS[key],
    retry: { ...retry, onRetry: (event) => retries.push(event) },
  });
  return { sdk, retries };
}

describe('retries', () => {
  it('waits out Retry-After on 429, then sends again', async () => {
    const { sdk, retries } = client('tight');
    // `tight` may make three writes per window; cancels of unknown ids are cheap writes.
    // However slowly they go out, a handful in a row meets the limit. Each one still ends
    // as the API answers it once let through: 404.
    for (let i = 0; retries.length === 0 && i < 50; i += 1) {
      await expect(sdk.cancel(`missing-${i}`)).rejects.toBeInstanceOf(NotFoundError);
    }
    expect(retries[0]).toMatchObject({ attempt: 1, status: 429 });
    // What the API asked for (whole seconds), not a backoff of the client's own.
    expect(retries[0]!.delayMs % 1000).toBe(0);
    expect(retries[0]!.delayMs).toBeGreaterThanOrEqual(1000);
  });

  it('throws RateLimitError with the code and Retry-After once retries run out', async () => {
    const { sdk } = client('tight', { retries: 0 });
    let limited: RateLimitError | undefined;
    for (let i = 0; !limited && i < 50; i += 1) {
      const error = await sdk.cancel(`missing-${i}`).catch((caught: unknown) => caught);
      if (error instanceof RateLimitError) limited = error;
      else expect(error).toBeInstanceOf(NotFoundError);
    }
    if (!limited) throw new Error('never rate limited');
    expect(limited.code).toBe('rate_limited');
    expect(limited.status).toBe(429);
    expect(limited.retryAfterMs).toBeGreaterThanOrEqual(1000);
  });

  it('backs off on 503 while Redis is down and succeeds once it is back', async () => {
    const { sdk } = client('acme');
    const submitted = await sdk.submit({ prompt: 'a red circle' });
    await stack.redis.kill();
    let restarted: Promise<void> | null = null;
    const read = new GlmImageClient({
      baseUrl: apiUrl,
      apiKey: KEYS.acme,
      retry: {
        retries: 1000,
        baseDelayMs: 50,
        maxDelayMs: 200,
        // Bring Redis back only once the client has seen the 503 and is backing off.
        onRetry: (event) => {
          if (event.status === 503) restarted ??= stack.redis.restart();
        },
      },
    }).get(submitted.id);
    const generation = await read;
    expect(restarted).not.toBeNull();
    await restarted;
    expect(generation.id).toBe(submitted.id);
  });

  it('resends a submit whose answer was lost, and the API keeps one generation', async () => {
    let submits = 0;
    const proxy = await startFaultProxy(apiUrl, (request) =>
      request.method === 'POST' && request.url === '/v1/generations' && submits++ === 0
        ? 'drop-response'
        : null,
    );
    try {
      const { sdk, retries } = client('globex', { baseDelayMs: 10 }, proxy.url);
      const generation = await sdk.submit({ prompt: 'a lone green square', seed: 3 });
      expect(retries).toHaveLength(1);
      expect(retries[0]!.status).toBeUndefined();
      expect(proxy.requests.filter((r) => r === 'POST /v1/generations')).toHaveLength(2);
      const mine = await sdk.list({ limit: 100 });
      expect(
        mine.items.filter((item) => item.input.prompt === 'a lone green square').map((g) => g.id),
      ).toEqual([generation.id]);
    } finally {
      await proxy.close();
    }
  });

  it('does not resend a render whose answer was lost: renders carry no Idempotency-Key', async () => {
    const proxy = await startFaultProxy(apiUrl, (request) =>
      request.url?.endsWith('/renders') ? 'drop-response' : null,
    );
    try {
      const { sdk, retries } = client('globex', { baseDelayMs: 10 }, proxy.url);
      const source = await sdk.submit({ prompt: 'a blue circle' });
      await expect(sdk.render(source.id, { seed: 1 })).rejects.toBeInstanceOf(ConnectionError);
      expect(retries).toEqual([]);
      expect(proxy.requests.filter((r) => r.endsWith('/renders'))).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });
});
