import type { ApiEnv } from '@glm-image/shared/env';
import type { GenerationRecord } from '@glm-image/shared/generation';
import { toPublicGeneration } from '@glm-image/shared/generation-view';
import { createQueue, type QueueSettings } from '@glm-image/shared/queues';
import type { ObjectStore } from '@glm-image/shared/storage';
import { type WebhookJobData, WebhookNotifier } from '@glm-image/shared/webhooks/notifier';
import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';

/**
 * Announces a cancel that the API itself completed (a queued generation canceled
 * before any worker saw it), so its `generation.canceled` webhook goes out like one a
 * worker would send. Running generations are announced by the worker that stops them.
 */
export interface CancelNotifier {
  notifyCanceled(record: GenerationRecord): Promise<void>;
  close(): Promise<void>;
}

export function createCancelNotifier(
  env: ApiEnv,
  redis: Redis,
  settings: QueueSettings,
  objects: ObjectStore,
  keyPrefix: string,
): CancelNotifier {
  const queue = createQueue<WebhookJobData>('webhook', redis, settings);
  const notifier = new WebhookNotifier(
    queue,
    (record) => toPublicGeneration(record, { baseUrl: env.PUBLIC_API_URL, objects }),
    { keyPrefix, retentionSeconds: env.RETENTION_SECONDS },
  );
  return {
    notifyCanceled: (record) => notifier.notify(record, 'generation.canceled'),
    close: () => queue.close(),
  };
}

/** Webhook trouble never fails the cancel itself; it is logged and the record stays canceled. */
export async function announceCancel(
  notifier: CancelNotifier,
  record: GenerationRecord,
  log?: FastifyBaseLogger,
): Promise<void> {
  try {
    await notifier.notifyCanceled(record);
  } catch (error) {
    log?.error({ err: error, generation_id: record.id }, 'webhook enqueue failed');
  }
}
