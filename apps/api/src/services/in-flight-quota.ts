import { RateLimitedError } from '@glm-image/shared/errors';
import { isTerminal } from '@glm-image/shared/generation';
import type { Redis } from 'ioredis';

/**
 * The cap on unfinished generations per tenant. The set of a tenant's unfinished ids
 * lives in Redis (so every API replica sees it); finished ones are pruned lazily when
 * the tenant submits again, by asking the generation store for their status.
 */

export interface StatusLookup {
  get(id: string): Promise<{ status: Parameters<typeof isTerminal>[0] } | null>;
}

/** A full tenant usually frees a slot within seconds; the client retries after that. */
const RETRY_AFTER_SECONDS = 5;

export class InFlightQuota {
  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly store: StatusLookup,
    private readonly ttlSeconds: number,
  ) {}

  private key(tenant: string): string {
    return `${this.keyPrefix}api:inflight:${tenant}`;
  }

  /** Counts the tenant's unfinished generations, dropping the finished or expired ones. */
  async count(tenant: string): Promise<number> {
    const key = this.key(tenant);
    const ids = await this.redis.zrange(key, 0, -1);
    const records = await Promise.all(ids.map((id) => this.store.get(id)));
    const finished = ids.filter((_, i) => {
      const record = records[i];
      return !record || isTerminal(record.status);
    });
    if (finished.length > 0) await this.redis.zrem(key, ...finished);
    return ids.length - finished.length;
  }

  /** Throws 429 when the tenant already has `max` generations in flight. */
  async assertRoom(tenant: string, max: number): Promise<void> {
    const inFlight = await this.count(tenant);
    if (inFlight >= max) {
      throw new RateLimitedError(
        RETRY_AFTER_SECONDS,
        `Too many generations in flight (${inFlight} of ${max}); retry when one finishes`,
      );
    }
  }

  async add(tenant: string, generationId: string): Promise<void> {
    const key = this.key(tenant);
    await this.redis.multi().zadd(key, Date.now(), generationId).expire(key, this.ttlSeconds).exec();
  }
}
