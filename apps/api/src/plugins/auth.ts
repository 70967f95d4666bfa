import { createHash } from 'node:crypto';
import { AppError, RateLimitedError, UnauthorizedError } from '@glm-image/shared/errors';
import type { RedisClient } from '@glm-image/shared/redis';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiKeyEntry } from '../env.ts';

/** Who is calling: resolved from the bearer key on every /v1 request. */
export interface Principal {
  tenant: string;
  admin: boolean;
  /** SHA-256 of the key: names the key in rate-limit counters and logs without revealing it. */
  keyHash: string;
  ratePerMinute: number;
  maxInFlight: number;
  /** BullMQ priority of this tenant's jobs: 1 runs first, larger numbers later. */
  priority: number;
}

export interface TenantDefaults {
  ratePerMinute: number;
  maxInFlight: number;
  priority: number;
}

export const DEFAULT_TENANT_LIMITS: TenantDefaults = { ratePerMinute: 120, maxInFlight: 32, priority: 10 };

export const DEV_TENANT = 'dev';

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

export class KeyRegistry {
  private readonly byHash = new Map<string, Principal>();

  constructor(
    entries: readonly ApiKeyEntry[],
    devApiKey?: string,
    defaults: TenantDefaults = DEFAULT_TENANT_LIMITS,
  ) {
    for (const entry of entries) {
      const keyHash = entry.sha256.toLowerCase();
      this.byHash.set(keyHash, {
        tenant: entry.tenant,
        admin: entry.admin ?? false,
        keyHash,
        ratePerMinute: entry.rate_per_minute ?? defaults.ratePerMinute,
        maxInFlight: entry.max_in_flight ?? defaults.maxInFlight,
        priority: Math.max(1, entry.priority ?? defaults.priority),
      });
    }
    if (devApiKey) {
      const keyHash = sha256Hex(devApiKey);
      this.byHash.set(keyHash, { tenant: DEV_TENANT, admin: false, keyHash, ...defaults });
    }
  }

  get size(): number {
    return this.byHash.size;
  }

  /** The principal for a presented key, or null; lookups go by hash so keys never sit in memory. */
  resolve(key: string): Principal | null {
    return this.byHash.get(sha256Hex(key)) ?? null;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The caller, for handlers behind the auth plugin (which guarantees one). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new UnauthorizedError();
  return request.principal;
}

/** A valid key asking for what only admin keys may have. */
export class ForbiddenError extends AppError {
  constructor(message = 'This needs an admin key') {
    super('forbidden', message);
  }
}

export function canSee(principal: Principal, tenant: string): boolean {
  return principal.admin || principal.tenant === tenant;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export interface AuthOptions {
  keys: KeyRegistry;
  /**
   * Failed authentications allowed per client address per window; past it the address
   * gets 429 instead of 401, so keys cannot be guessed at speed. A valid key is never
   * refused for its address's failures.
   */
  failures: { redis: RedisClient; keyPrefix: string; max: number; windowMs: number };
}

/** The 429 for an address past its failed-authentication budget, or null (Redis down: no limit). */
export async function failureLimit(
  options: AuthOptions['failures'],
  ip: string,
): Promise<RateLimitedError | null> {
  const key = `${options.keyPrefix}${ip}`;
  try {
    const replies = await options.redis
      .multi()
      .incr(key)
      .pexpire(key, options.windowMs, 'NX')
      .pttl(key)
      .exec();
    const count = Number(replies?.[0]?.[1] ?? 0);
    const ttl = Number(replies?.[2]?.[1] ?? options.windowMs);
    if (count <= options.max) return null;
    return new RateLimitedError(
      Math.max(1, Math.ceil(ttl / 1000)),
      'Too many failed authentications from this address; retry later',
    );
  } catch {
    return null;
  }
}

async function authPlugin(app: FastifyInstance, options: AuthOptions): Promise<void> {
  if (options.keys.size === 0) {
    app.log.warn('no API keys configured (API_KEYS, DEV_API_KEY): every /v1 request will answer 401');
  }
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const match = BEARER.exec(request.headers.authorization ?? '');
    const principal = match?.[1] ? options.keys.resolve(match[1]) : null;
    if (!principal) throw (await failureLimit(options.failures, request.ip)) ?? new UnauthorizedError();
    request.principal = principal;
    request.log = request.log.child({ tenant: principal.tenant, key: principal.keyHash.slice(0, 12) });
  });
}

export default fp(authPlugin, { name: 'auth' });
