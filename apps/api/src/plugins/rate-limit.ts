import rateLimit from '@fastify/rate-limit';
import { RateLimitedError } from '@glm-image/shared/errors';
import type { RedisClient } from '@glm-image/shared/redis';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { DEFAULT_TENANT_LIMITS } from './auth.ts';

/**
 * Requests per key per window, counted in Redis so that every API replica shares one
 * budget. Runs after auth (its hook is added per route, after the app-level auth hook),
 * so the counter is the key's, not the client address's. When Redis is down the limit
 * is skipped rather than failing requests that would fail anyway with a clearer 503.
 * `rate_per_minute` is the budget for writes (submit, cancel, re-render).
 */
export interface RateLimitOptions {
  redis: RedisClient;
  /** Where the counters live (RedisKeys.rateLimitNamespace). */
  namespace: string;
  /** The window `rate_per_minute` applies to. Default: 60000 ms; tests shorten it. */
  windowMs?: number;
}

/** How many more reads than writes a key may make per window. */
export const READ_BUDGET_FACTOR = 10;

function isRead(request: FastifyRequest): boolean {
  return request.method === 'GET' || request.method === 'HEAD';
}

async function rateLimitPlugin(app: FastifyInstance, options: RateLimitOptions): Promise<void> {
  await app.register(rateLimit, {
    redis: options.redis,
    nameSpace: options.namespace,
    timeWindow: options.windowMs ?? 60_000,
    // Reads (polling a generation, following its events) are cheap and expected to be
    // frequent: they count apart from writes, with READ_BUDGET_FACTOR times the budget.
    keyGenerator: (request) =>
      `${request.principal?.keyHash ?? request.ip}:${isRead(request) ? 'read' : 'write'}`,
    max: (request) =>
      (request.principal?.ratePerMinute ?? DEFAULT_TENANT_LIMITS.ratePerMinute) *
      (isRead(request) ? READ_BUDGET_FACTOR : 1),
    skipOnError: true,
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError(
        Math.max(1, Math.ceil(context.ttl / 1000)),
        `Rate limit of ${context.max} requests per window exceeded; retry in ${context.after}`,
      ),
  });
}

export default fp(rateLimitPlugin, { name: 'rate-limit' });
