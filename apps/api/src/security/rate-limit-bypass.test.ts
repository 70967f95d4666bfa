import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, KEYS, startApiStack } from '../testing/api-stack.ts';

/**
 * Ways around the limits that must not work: failed authentications are counted per
 * client address, so spoofed X-Forwarded-For headers (TRUST_PROXY off) and a new wrong
 * key each time do not reset the count; a key's request budget is the key's, however
 * its Authorization header is spelled and whatever address it comes from. Behind a
 * trusted proxy the forwarded address is the client's, as it should be.
 */

const MAX_FAILURES = 5;

let stack: ApiStack;
let trusting: ApiStack;
beforeAll(async () => {
  const env = { AUTH_FAILURES_PER_MINUTE: String(MAX_FAILURES) };
  stack = await startApiStack({ env });
  trusting = await startApiStack({ env, trustProxy: true });
});
afterAll(async () => {
  await stack?.close();
  await trusting?.close();
});

function attempt(on: ApiStack, headers: Record<string, string>, remoteAddress = '198.51.100.7') {
  return on.app.inject({ url: '/v1/generations', headers, remoteAddress });
}

describe('failed authentications', () => {
  it('are counted per address: spoofed X-Forwarded-For and new wrong keys do not reset the count', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < MAX_FAILURES + 5; i += 1) {
      const res = await attempt(stack, {
        authorization: `Bearer guessed-key-${i}-0123456789`,
        'x-forwarded-for': `203.0.113.${i}, 10.0.0.${i}`,
        'x-real-ip': `203.0.113.${i}`,
        forwarded: `for=203.0.113.${i}`,
      });
      statuses.push(res.statusCode);
      expect(res.json().error.code).toBe(res.statusCode === 429 ? 'rate_limited' : 'unauthorized');
    }
    expect(statuses.slice(0, MAX_FAILURES)).toEqual(Array(MAX_FAILURES).fill(401));
    expect(statuses.slice(MAX_FAILURES)).toEqual(Array(5).fill(429));
    // The queue dashboard shares the same count.
    expect((await stack.app.inject({ url: '/admin/queues', remoteAddress: '198.51.100.7' })).statusCode).toBe(
      429,
    );
    // Another address has its own; a valid key is never refused for its address's failures.
    expect(
      (await attempt(stack, { authorization: 'Bearer wrong-0123456789abcdef' }, '198.51.100.8')).statusCode,
    ).toBe(401);
    expect((await attempt(stack, { authorization: `Bearer ${KEYS.acme}` })).statusCode).toBe(200);
  });

  it('are counted per forwarded address only behind a trusted proxy', async () => {
    for (let i = 0; i < MAX_FAILURES + 3; i += 1) {
      const res = await attempt(
        trusting,
        { authorization: 'Bearer wrong-0123456789abcdef', 'x-forwarded-for': `203.0.113.${i}` },
        '10.0.0.1',
      );
      expect(res.statusCode).toBe(401);
    }
  });
});

describe("a key's request budget", () => {
  it('is the same however the key is spelled, and whatever address or forwarded header it comes with', async () => {
    // `tight`: three writes per window.
    const spellings = [
      `Bearer ${KEYS.tight}`,
      `bearer ${KEYS.tight}`,
      `BEARER   ${KEYS.tight}  `,
      `Bearer\t${KEYS.tight}`,
      `Bearer ${KEYS.tight}`,
    ];
    const statuses: number[] = [];
    for (const [i, authorization] of spellings.entries()) {
      const res = await stack.app.inject({
        method: 'POST',
        url: '/v1/generations/gen_00000000000000000000000000/cancel',
        headers: { authorization, 'x-forwarded-for': `203.0.113.${i}` },
        remoteAddress: `198.51.100.${20 + i}`,
      });
      statuses.push(res.statusCode);
    }
    expect(statuses).toEqual([404, 404, 404, 429, 429]);
  });

  it("is not spent by other tenants' keys, nor theirs by it", async () => {
    for (const key of ['acme', 'globex', 'admin'] as const) {
      const res = await stack.app.inject({
        method: 'POST',
        url: '/v1/generations/gen_00000000000000000000000000/cancel',
        headers: stack.auth(key),
      });
      expect(res.statusCode, key).toBe(404);
    }
  });
});
