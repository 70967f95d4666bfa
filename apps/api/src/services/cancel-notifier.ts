import type { ApiEnv } from '@glm-image/shared/env';
import type { GenerationRecord } from '@glm-image/shared/generation';
import type { Redis } from 'ioredis';

/**
 * Announces a cancel that the API itself completed (a queued generation canceled
 * before any worker saw it), so its `generation.canceled` webhook goes out like one a
 * worker would send. Running generations are announced by the worker that stops them.
 */
export type CancelNotifier = (record: GenerationRecord) => Promise<void>;

export function createCancelNotifier(_env: ApiEnv, _redis: Redis): CancelNotifier {
  return async (record) => {
    if (!record.input.webhook?.events.includes('generation.canceled')) return;
    // Webhook delivery is wired in here once the shared notifier exists.
  };
}
