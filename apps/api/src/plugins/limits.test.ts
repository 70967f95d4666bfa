import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';

/** Idempotency, the per-key rate limit and the per-tenant in-flight cap. */

let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack({ rateLimitWindowMs: 1000 });
});
afterAll(async () => {
  await stack?.close();
});

function submit(
  body: Record<string, unknown>,
  headers: Record<string, string> = {},
  key: 'acme' | 'tight' | 'globex' = 'acme',
) {
  return stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: { ...stack.auth(key), ...headers },
    payload: body,
  });
}

describe('Idempotency-Key', () => {
  it('returns the first generation for the same key and body, and 409 for a different body', async () => {
    const first = await submit({ prompt: 'once', seed: 1 }, { 'idempotency-key': 'order-1' });
    expect(first.statusCode).toBe(202);
    const again = await submit({ seed: 1, prompt: 'once' }, { 'idempotency-key': 'order-1' });
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json().id).toBe(first.json().id);
    const conflict = await submit({ prompt: 'twice', seed: 1 }, { 'idempotency-key': 'order-1' });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().error.code).toBe('idempotency_conflict');
    // Keys belong to a tenant: another tenant's identical key is a different request.
    const otherTenant = await submit({ prompt: 'once', seed: 1 }, { 'idempotency-key': 'order-1' }, 'globex');
    expect(otherTenant.json().id).not.toBe(first.json().id);
  });

  it('answers 200 with the final object when the replayed generation has finished', async () => {
    const first = await submit({ prompt: 'done' }, { 'idempotency-key': 'order-2' });
    await stack.context.planQueue.remove(first.json().id);
    await stack.advance(first.json().id, [['planning'], ['decoding'], ['succeeded']]);
    const again = await submit({ prompt: 'done' }, { 'idempotency-key': 'order-2' });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ id: first.json().id, status: 'succeeded' });
  });

  it('creates exactly one generation for concurrent duplicates', async () => {
    const before = (await stack.context.store.listByTenant('acme', { limit: 1000 })).items.length;
    const answers = await Promise.all(
      Array.from({ length: 8 }, () => submit({ prompt: 'racing' }, { 'idempotency-key': 'order-3' })),
    );
    const ids = new Set(answers.map((answer) => answer.json().id));
    expect(answers.every((answer) => answer.statusCode === 202)).toBe(true);
    expect(ids.size).toBe(1);
    const after = (await stack.context.store.listByTenant('acme', { limit: 1000 })).items.length;
    expect(after - before).toBe(1);
  });

  it('rejects an unusable key', async () => {
    const res = await submit({ prompt: 'x' }, { 'idempotency-key': 'x'.repeat(300) });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toContain('Idempotency-Key');
  });
});

describe('rate limit and in-flight cap', () => {
  it('answers 429 with Retry-After past the per-key rate, and serves again once the window passes', async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof submit>> | undefined;
    // Writes spend the budget (an invalid body still costs a request); reads have their own.
    const write = () =>
      stack.app.inject({ method: 'POST', url: '/v1/generations', headers: stack.auth('tight'), payload: {} });
    for (let i = 0; i < 4; i++) {
      const res = await write();
      statuses.push(res.statusCode);
      if (res.statusCode === 429) limited = res;
    }
    expect(statuses).toEqual([400, 400, 400, 429]);
    expect(
      (await stack.app.inject({ url: '/v1/generations', headers: stack.auth('tight') })).statusCode,
    ).toBe(200);
    expect(limited?.json().error.code).toBe('rate_limited');
    const retryAfter = Number(limited?.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // Other keys have budgets of their own.
    expect((await stack.app.inject({ url: '/v1/generations', headers: stack.auth('acme') })).statusCode).toBe(
      200,
    );
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000 + 100));
    expect((await write()).statusCode).toBe(400);
  });

  it('answers 429 when a tenant has max_in_flight unfinished generations, and accepts again when one ends', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100)); // a fresh rate window
    const first = await submit({ prompt: 'a' }, {}, 'tight');
    const second = await submit({ prompt: 'b' }, {}, 'tight');
    expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
    const third = await submit({ prompt: 'c' }, {}, 'tight');
    expect(third.statusCode).toBe(429);
    expect(third.json().error.code).toBe('rate_limited');
    expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    await stack.context.store.requestCancel(first.json().id);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect((await submit({ prompt: 'd' }, {}, 'tight')).statusCode).toBe(202);
  });
});

describe('failed authentication', () => {
  it('answers 429 with Retry-After once an address has failed too often, and never refuses a valid key', async () => {
    const attempt = (authorization: string) =>
      stack.app.inject({ url: '/v1/generations', headers: { authorization }, remoteAddress: '203.0.113.7' });
    const max = stack.context.env.AUTH_FAILURES_PER_MINUTE;
    for (let i = 0; i < max; i++) expect((await attempt(`Bearer guess-${i}`)).statusCode).toBe(401);
    const limited = await attempt('Bearer one-guess-too-many');
    expect(limited.statusCode).toBe(429);
    expect(limited.json().error.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect((await attempt(stack.auth('acme').authorization)).statusCode).toBe(200);
    // Another address has its own budget.
    const elsewhere = await stack.app.inject({
      url: '/v1/generations',
      headers: { authorization: 'Bearer guess' },
      remoteAddress: '203.0.113.8',
    });
    expect(elsewhere.statusCode).toBe(401);
  });
});
