import { createHash } from 'node:crypto';
import { IdempotencyConflictError, InvalidInputError } from '@glm-image/shared/errors';
import type { RedisKeys } from '@glm-image/shared/keys';
import type { RedisClient } from '@glm-image/shared/redis';

/**
 * Idempotency-Key handling: the first request with a key claims it atomically
 * (SET NX) together with the hash of its body and the id its generation will get, so
 * two concurrent duplicates cannot both create a generation. Claims last 24 hours.
 */

export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;
const MAX_KEY_LENGTH = 255;

interface Claim {
  bodyHash: string;
  generationId: string;
}

export type ClaimResult = { kind: 'claimed' } | { kind: 'replay'; generationId: string };

/** Key order does not change what a body means, so it must not change its hash either. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function hashBody(body: unknown): string {
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

export class IdempotencyKeys {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  static validateKey(key: string): string {
    if (key.length === 0 || key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
      throw new InvalidInputError('Idempotency-Key', `must be 1..${MAX_KEY_LENGTH} visible ASCII characters`);
    }
    return key;
  }

  private redisKey(scope: string, key: string): string {
    return this.keys.idempotency(scope, createHash('sha256').update(key).digest('hex'));
  }

  /**
   * Claims `key` for a new generation `generationId`, or says which generation already
   * holds it. A different body under the same key is a conflict.
   */
  async claim(scope: string, key: string, bodyHash: string, generationId: string): Promise<ClaimResult> {
    const redisKey = this.redisKey(scope, key);
    const claim: Claim = { bodyHash, generationId };
    const set = await this.redis.set(redisKey, JSON.stringify(claim), 'EX', IDEMPOTENCY_TTL_SECONDS, 'NX');
    if (set === 'OK') return { kind: 'claimed' };
    const existing = await this.redis.get(redisKey);
    if (existing === null) {
      // The claim expired or was released between the two commands: try once more.
      return this.claim(scope, key, bodyHash, generationId);
    }
    const held = JSON.parse(existing) as Claim;
    if (held.bodyHash !== bodyHash) throw new IdempotencyConflictError();
    return { kind: 'replay', generationId: held.generationId };
  }

  /** Gives a claim back when its generation could not be created, so a retry can succeed. */
  async release(scope: string, key: string, generationId: string): Promise<void> {
    const redisKey = this.redisKey(scope, key);
    const existing = await this.redis.get(redisKey);
    if (existing && (JSON.parse(existing) as Claim).generationId === generationId)
      await this.redis.del(redisKey);
  }
}
