/**
 * The webhook delivery worker as the API process runs it: workers and the API only
 * enqueue events, and this loop signs and POSTs them. It lives in the API because the
 * API already holds the tenants' signing secrets and scales with client traffic;
 * WEBHOOK_DELIVERY_ENABLED=false leaves delivery to another deployment.
 */
import { keyPrefixOf } from '@glm-image/shared/keys';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import type { WebhookJobData, WebhookLogger } from '@glm-image/shared/webhooks/notifier';
import type { ApiEnv } from '../env.ts';
import type { ApiMetrics, WebhookOutcome } from '../metrics.ts';
import type { GenerationPresenter } from '../presenters/generation-presenter.ts';
import { startWebhookDeliveryWorker, type WebhookDeliveryResult } from './delivery-worker.ts';
import type { WebhookResolver } from './ssrf-guard.ts';

/**
 * The metric counts what happened to an attempt: `blocked` when nothing was sent (the
 * guard refused the target, no secret, or the endpoint was disabled earlier), `failed`
 * when the receiver ended it for good (410 Gone, or the last retry failed).
 */
export const DELIVERY_OUTCOME_METRIC: Record<WebhookDeliveryResult, WebhookOutcome> = {
  delivered: 'delivered',
  retrying: 'retrying',
  failed: 'failed',
  disabled: 'failed',
  refused: 'blocked',
  skipped: 'blocked',
};

export interface WebhookDelivery {
  /** Stops taking deliveries, lets the ones in flight finish, then closes its connection. */
  close(): Promise<void>;
}

export interface WebhookDeliveryDeps {
  metrics: ApiMetrics;
  /** Renders the generation object of each body, linking to PUBLIC_API_URL. */
  presenter: GenerationPresenter;
  log: WebhookLogger & { error(obj: Record<string, unknown>, msg: string): void };
  /** Default: the system resolver. */
  resolver?: WebhookResolver;
}

/** Starts delivering, or answers null when WEBHOOK_DELIVERY_ENABLED is off. */
export function startApiWebhookDelivery(env: ApiEnv, deps: WebhookDeliveryDeps): WebhookDelivery | null {
  if (!env.WEBHOOK_DELIVERY_ENABLED) return null;
  // Its own connection: BullMQ workers block on Redis, which must not stall request handling.
  const connection = createRedis(env.REDIS_URL, { forWorker: true, connectionName: 'api-webhook-delivery' });
  const worker = startWebhookDeliveryWorker({
    connection,
    queueName: env.WEBHOOK_QUEUE,
    prefix: env.QUEUE_PREFIX,
    secrets: env.WEBHOOK_SECRETS,
    allowList: env.WEBHOOK_ALLOWLIST,
    ...(deps.resolver ? { resolver: deps.resolver } : {}),
    // The generation store's keys, so the API reads the delivery log where the worker writes it.
    store: { keyPrefix: keyPrefixOf(env.QUEUE_PREFIX), retentionSeconds: env.RETENTION_SECONDS },
    renderBody: (data) => webhookBody(deps.presenter, env.PUBLIC_API_URL, data),
    concurrency: env.WEBHOOK_DELIVERY_CONCURRENCY,
    timeoutMs: env.WEBHOOK_TIMEOUT_MS,
    backoff: { baseMs: env.WEBHOOK_BACKOFF_MS },
    onDelivery: (outcome) => deps.metrics.countWebhookDelivery(DELIVERY_OUTCOME_METRIC[outcome.result]),
    log: deps.log,
  });
  // An EventEmitter without an 'error' listener throws; a Redis hiccup must only be logged.
  worker.on('error', (error) => deps.log.error({ err: error }, 'webhook delivery worker error'));

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= (async () => {
        try {
          await worker.close();
        } finally {
          await closeRedis(connection);
        }
      })();
      return closing;
    },
  };
}

/**
 * The Standard Webhooks body: `{ type, timestamp, data }` with the generation object as
 * the API answers it. Built from the snapshot and time fixed when the event happened, so
 * every attempt of one event sends the same bytes.
 */
export function webhookBody(
  presenter: GenerationPresenter,
  publicApiUrl: string,
  data: WebhookJobData,
): string {
  return JSON.stringify({
    type: data.event,
    timestamp: data.timestamp,
    data: presenter.view(data.record, publicApiUrl),
  });
}
