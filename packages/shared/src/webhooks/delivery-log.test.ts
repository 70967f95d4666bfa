import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryLogKey, MAX_LOGGED_ATTEMPTS, readDeliveryLog, WebhookDeliveryLog } from './delivery-log.ts';
import { disableEndpoint, enableEndpoint, isEndpointDisabled } from './disabled-endpoints.ts';

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

const attempt = (n: number, outcome: { status?: number; error?: string }) => ({
  event: 'generation.succeeded' as const,
  webhook_id: 'msg_g_generation.succeeded',
  attempt: n,
  at: new Date(1_700_000_000_000 + n * 1000).toISOString(),
  duration_ms: 5,
  ...outcome,
});

describe('WebhookDeliveryLog', () => {
  it('is null for a generation without attempts', async () => {
    expect(await readDeliveryLog(redis, 'never')).toBeNull();
  });

  it('summarises attempts in order, with the generation’s retention', async () => {
    const log = new WebhookDeliveryLog(redis, { keyPrefix: '{t}:', retentionSeconds: 120 });
    await log.append('g1', attempt(1, { error: 'webhook_timeout' }));
    await log.append('g1', attempt(2, { status: 502 }));
    expect(await log.read('g1')).toMatchObject({ deliveries: 0, last_status: 502 });
    await log.append('g1', attempt(3, { status: 200 }));
    const summary = await readDeliveryLog(redis, 'g1', '{t}:');
    expect(summary).toMatchObject({ deliveries: 1, last_status: 200 });
    expect(summary?.attempts.map((a) => a.status ?? a.error)).toEqual(['webhook_timeout', 502, 200]);
    const ttl = await redis.ttl(deliveryLogKey('g1', '{t}:'));
    expect(ttl).toBeGreaterThan(100);
    expect(ttl).toBeLessThanOrEqual(120);
    expect(await readDeliveryLog(redis, 'g1')).toBeNull(); // another prefix, another log
  });

  it('keeps only the most recent attempts', async () => {
    const log = new WebhookDeliveryLog(redis, { retentionSeconds: 60 });
    for (let n = 1; n <= MAX_LOGGED_ATTEMPTS + 5; n++) await log.append('g2', attempt(n, { status: 500 }));
    const summary = await log.read('g2');
    expect(summary?.attempts).toHaveLength(MAX_LOGGED_ATTEMPTS);
    expect(summary?.attempts[0]?.attempt).toBe(6);
  });
});

describe('disabled endpoints', () => {
  it('are per tenant and can be re-enabled', async () => {
    await disableEndpoint(redis, 'acme', 'https://a.example/hook');
    expect(await isEndpointDisabled(redis, 'acme', 'https://a.example/hook')).toBe(true);
    expect(await isEndpointDisabled(redis, 'globex', 'https://a.example/hook')).toBe(false);
    await enableEndpoint(redis, 'acme', 'https://a.example/hook');
    expect(await isEndpointDisabled(redis, 'acme', 'https://a.example/hook')).toBe(false);
  });
});
