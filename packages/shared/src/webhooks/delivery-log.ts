/**
 * The per-generation webhook delivery log: every attempt (status or error, duration) in a
 * capped Redis list `<prefix>gen:<id>:webhook`, expiring with the generation, so the API
 * can show clients what happened to their webhooks.
 */
import type { WebhookEvent } from '../generation.ts';
import { DEFAULT_KEY_PREFIX, RedisKeys } from '../keys.ts';
import type { RedisClient } from '../redis.ts';

export type { RedisClient } from '../redis.ts';

/**
 * BullMQ hands out its connection as an adapter interface; with BullMQ's default (ioredis)
 * adapter the object is the ioredis client itself, whose commands the webhook keys use.
 */
export function ioredisOf(client: unknown): RedisClient {
  return client as RedisClient;
}

/** Attempts kept per generation: four events × a full retry schedule fit with room to spare. */
export const MAX_LOGGED_ATTEMPTS = 100;

export interface WebhookAttempt {
  event: WebhookEvent;
  /** The webhook-id header: the same for every attempt of one event. */
  webhook_id: string;
  /** 1 for the first try of this event. */
  attempt: number;
  /** ISO time the attempt started. */
  at: string;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
  /** Stable error code when it did not (or the attempt was not made), e.g. webhook_target_refused. */
  error?: string;
  duration_ms: number;
}

export interface WebhookDeliverySummary {
  /** Attempts the receiver answered with 2xx. */
  deliveries: number;
  /** The last attempt's HTTP status, or its error code when it got no answer. */
  last_status: number | string | null;
  attempts: WebhookAttempt[];
}

export function deliveryLogKey(generationId: string, keyPrefix: string = DEFAULT_KEY_PREFIX): string {
  return new RedisKeys(keyPrefix).webhookLog(generationId);
}

export interface DeliveryLogOptions {
  keyPrefix?: string;
  /** TTL of the log, the generation's retention (RETENTION_SECONDS). */
  retentionSeconds: number;
}

export class WebhookDeliveryLog {
  private readonly keyPrefix: string;
  private readonly retentionSeconds: number;

  constructor(
    private readonly redis: RedisClient,
    options: DeliveryLogOptions,
  ) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.retentionSeconds = options.retentionSeconds;
  }

  async append(generationId: string, attempt: WebhookAttempt): Promise<void> {
    const key = deliveryLogKey(generationId, this.keyPrefix);
    await this.redis
      .multi()
      .rpush(key, JSON.stringify(attempt))
      .ltrim(key, -MAX_LOGGED_ATTEMPTS, -1)
      .expire(key, this.retentionSeconds)
      .exec();
  }

  read(generationId: string): Promise<WebhookDeliverySummary | null> {
    return readDeliveryLog(this.redis, generationId, this.keyPrefix);
  }
}

/**
 * The log as the API shows it (`webhook: { deliveries, last_status, attempts }`), oldest
 * attempt first; null when no attempt was ever logged for the generation.
 */
export async function readDeliveryLog(
  redis: RedisClient,
  generationId: string,
  keyPrefix: string = DEFAULT_KEY_PREFIX,
): Promise<WebhookDeliverySummary | null> {
  const raw = await redis.lrange(deliveryLogKey(generationId, keyPrefix), 0, -1);
  if (raw.length === 0) return null;
  const attempts = raw.map((entry) => JSON.parse(entry) as WebhookAttempt);
  const last = attempts[attempts.length - 1];
  return {
    deliveries: attempts.filter((a) => a.status !== undefined && a.status >= 200 && a.status < 300).length,
    last_status: last?.status ?? last?.error ?? null,
    attempts,
  };
}
