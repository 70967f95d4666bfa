/**
 * When to try a webhook again: exponential backoff with jitter, unless the receiver said
 * when (Retry-After). Installed as a BullMQ custom backoff strategy on the delivery worker.
 */
import type { BackoffStrategy } from 'bullmq';

export interface WebhookBackoffPolicy {
  /** Delay before the first retry, before jitter. */
  baseMs: number;
  /** No exponential delay exceeds this. */
  maxMs: number;
  /** A Retry-After beyond this is cut to it, so one receiver cannot park a job for days. */
  maxRetryAfterMs: number;
}

export const DEFAULT_WEBHOOK_BACKOFF: WebhookBackoffPolicy = {
  baseMs: 5_000,
  maxMs: 60 * 60_000,
  maxRetryAfterMs: 6 * 60 * 60_000,
};

/**
 * Parses Retry-After (delta-seconds or an HTTP date) into milliseconds from `now`;
 * undefined when absent or unparseable, 0 for a date already past.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * "Equal jitter": half the exponential delay is fixed, half random, so retries from many
 * failing jobs spread out but none comes back almost at once. `attemptsMade` counts the
 * attempts already made (1 before the first retry).
 */
export function exponentialJitterDelay(
  attemptsMade: number,
  policy: Pick<WebhookBackoffPolicy, 'baseMs' | 'maxMs'>,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, attemptsMade - 1);
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** The strategy for BullMQ's `settings.backoffStrategy`: Retry-After first, else jittered exponential. */
export function webhookBackoffStrategy(
  policy: WebhookBackoffPolicy = DEFAULT_WEBHOOK_BACKOFF,
): BackoffStrategy {
  return (attemptsMade, _type, err) => {
    const retryAfterMs = (err as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
    if (typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs)) {
      return Math.min(Math.max(0, retryAfterMs), policy.maxRetryAfterMs);
    }
    return exponentialJitterDelay(attemptsMade, policy);
  };
}
