/**
 * Endpoints that answered 410 Gone, per tenant: a Redis set of URLs that are never called
 * again (until an operator re-enables one). No TTL: "gone" is the receiver's final word.
 */
import { DEFAULT_KEY_PREFIX, RedisKeys } from '../keys.ts';
import type { RedisClient } from './delivery-log.ts';

export function disabledEndpointsKey(tenant: string, keyPrefix: string = DEFAULT_KEY_PREFIX): string {
  return new RedisKeys(keyPrefix).disabledWebhooks(tenant);
}

export async function disableEndpoint(
  redis: RedisClient,
  tenant: string,
  url: string,
  keyPrefix?: string,
): Promise<void> {
  await redis.sadd(disabledEndpointsKey(tenant, keyPrefix), url);
}

export async function isEndpointDisabled(
  redis: RedisClient,
  tenant: string,
  url: string,
  keyPrefix?: string,
): Promise<boolean> {
  return (await redis.sismember(disabledEndpointsKey(tenant, keyPrefix), url)) === 1;
}

/** For operators: lets a tenant's fixed endpoint receive webhooks again. */
export async function enableEndpoint(
  redis: RedisClient,
  tenant: string,
  url: string,
  keyPrefix?: string,
): Promise<void> {
  await redis.srem(disabledEndpointsKey(tenant, keyPrefix), url);
}
