import rateLimit from '@fastify/rate-limit';
import { RateLimitedError } from '@glm-image/shared/errors';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { DEFAULT_TENANT_LIMITS } from './auth.ts';

/**
 * Requests per key per window, counted in Redis so that every API replica shares one
 * budget. Runs after auth (its hook is added per route, after the app-level auth hook),
 * so the counter is the key's, not the client address's. When Redis is down the limit
 * is skipped rather than failing requests that would fail anyway with a clearer 503.
 */
export interface RateLimitOptions {
  redis: Redis;
  keyPrefix: string;
  /** The window `rate_per_minute` applies to. Default: 60000 ms; tests shorten it. */
  windowMs?: number;
}

async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    redis: options.redis,
    nameSpace: `${options.keyPrefix}api:rate:`,
    timeWindow: options.windowMs ?? 60_000,
    keyGenerator: (request) => request.principal?.keyHash ?? request.ip,
    max: (request) => request.principal?.ratePerMinute ?? DEFAULT_TENANT_LIMITS.ratePerMinute,
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(
        Math.max(1, Math.ceil(context.ttl / 1000)),
        `Rate limit of ${context.max} requests per window exceeded; retry in ${context.after}`,
      ),
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit' });
