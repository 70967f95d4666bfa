import { describe, expect, it } from 'vitest';
import { exponentialJitterDelay, parseRetryAfter, webhookBackoffStrategy } from './backoff.ts';
import { WebhookRejectedError } from './errors.ts';

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('1', now)).toBe(1000);
    expect(parseRetryAfter(' 120 ', now)).toBe(120_000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
  });
  it('ignores absent or unparseable values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-5', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
  });
});

describe('exponentialJitterDelay', () => {
  const policy = { baseMs: 1000, maxMs: 10_000 };
  it('doubles per attempt, jittered between half and all of the ceiling, capped', () => {
    expect(exponentialJitterDelay(1, policy, () => 0)).toBe(500);
    expect(exponentialJitterDelay(1, policy, () => 1)).toBe(1000);
    expect(exponentialJitterDelay(3, policy, () => 0)).toBe(2000);
    expect(exponentialJitterDelay(3, policy, () => 1)).toBe(4000);
    expect(exponentialJitterDelay(10, policy, () => 1)).toBe(10_000);
    expect(exponentialJitterDelay(10, policy, () => 0)).toBe(5000);
  });
});

describe('webhookBackoffStrategy', () => {
  const strategy = webhookBackoffStrategy({ baseMs: 100, maxMs: 1000, maxRetryAfterMs: 5000 });
  it('honours Retry-After over the exponential schedule, up to the cap', () => {
    expect(strategy(1, 'x', new WebhookRejectedError(429, 3000))).toBe(3000);
    expect(strategy(1, 'x', new WebhookRejectedError(503, 60_000))).toBe(5000);
  });
  it('falls back to jittered exponential backoff', () => {
    const delay = strategy(2, 'x', new WebhookRejectedError(500)) as number;
    expect(delay).toBeGreaterThanOrEqual(100);
    expect(delay).toBeLessThanOrEqual(200);
  });
});
