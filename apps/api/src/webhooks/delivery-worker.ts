/**
 * The webhook delivery worker: takes jobs from the `webhook` queue, signs and POSTs them
 * through the SSRF guard, and logs every attempt. At-least-once: a job is only completed
 * after a 2xx, so a crash mid-delivery means the receiver may see the same webhook-id twice.
 */

import { DEFAULT_RETENTION_SECONDS, type WebhookEvent } from '@glm-image/shared/generation';
import { DEFAULT_KEY_PREFIX, DEFAULT_QUEUE_PREFIX } from '@glm-image/shared/keys';
import { ioredisOf, type RedisClient, WebhookDeliveryLog } from '@glm-image/shared/webhooks/delivery-log';
import { disableEndpoint, isEndpointDisabled } from '@glm-image/shared/webhooks/disabled-endpoints';
import {
  silentWebhookLogger,
  type WebhookJobData,
  type WebhookLogger,
  webhookJobDataSchema,
} from '@glm-image/shared/webhooks/notifier';
import { type ConnectionOptions, UnrecoverableError, Worker } from 'bullmq';
import { z } from 'zod';
import {
  DEFAULT_WEBHOOK_BACKOFF,
  parseRetryAfter,
  type WebhookBackoffPolicy,
  webhookBackoffStrategy,
} from './backoff.ts';
import { WebhookEndpointGoneError, WebhookError, WebhookRejectedError, webhookErrorCode } from './errors.ts';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, postWebhook } from './http-delivery.ts';
import { WebhookSigner } from './signing.ts';
import {
  parseWebhookAllowList,
  SsrfGuard,
  type WebhookAllowList,
  type WebhookResolver,
} from './ssrf-guard.ts';

/**
 * `delivered`: 2xx. `retrying`: failed, another attempt is scheduled. `failed`: failed for
 * the last time. `refused`: never sent (SSRF guard, bad URL, no secret). `disabled`: the
 * receiver answered 410 Gone. `skipped`: the endpoint was already disabled.
 */
export type WebhookDeliveryResult = 'delivered' | 'retrying' | 'failed' | 'refused' | 'disabled' | 'skipped';

export interface WebhookDeliveryOutcome {
  result: WebhookDeliveryResult;
  tenant: string;
  generationId: string;
  event: WebhookEvent;
  webhookId: string;
  attempt: number;
  status?: number;
  error?: string;
  durationMs: number;
}

export interface WebhookDeliveryWorkerOptions {
  /** BullMQ connection (an ioredis instance made with `maxRetriesPerRequest: null`, or its options). */
  connection: ConnectionOptions;
  /** Default `webhook`. */
  queueName?: string;
  /** BullMQ key prefix; default `{glm}`. */
  prefix?: string;
  /** Tenant → `whsec_...` (WEBHOOK_SECRETS). */
  secrets: Record<string, string>;
  /** WEBHOOK_ALLOWLIST, raw or parsed; default none. */
  allowList?: WebhookAllowList | string | readonly string[];
  /** Default: the system resolver. */
  resolver?: WebhookResolver;
  /** Where the delivery log and the disabled-endpoint sets live: the generation store's prefix and retention. */
  store?: { keyPrefix?: string; retentionSeconds?: number };
  /** Deliveries in flight at once; default 4 (they mostly wait on the network). */
  concurrency?: number;
  /** Per hop, connect until response headers (and again for the body read); default 10 s. */
  timeoutMs?: number;
  /** Redirect hops followed, each re-checked by the guard; default 3. */
  maxRedirects?: number;
  backoff?: Partial<WebhookBackoffPolicy>;
  /** The body of a delivery, the same bytes on every attempt of one event. */
  renderBody: (data: WebhookJobData) => string;
  /** Called once per attempt, for metrics; errors it throws are ignored. */
  onDelivery?: (outcome: WebhookDeliveryOutcome) => void;
  log?: WebhookLogger;
}

/** Jobs enqueued by releases that rendered the body at the event; delivered as they are during an upgrade. */
const preRenderedJobSchema = webhookJobDataSchema
  .omit({ timestamp: true, record: true })
  .extend({ body: z.string() });

/** The job's payload; one no version of this worker can read fails at once, since no retry changes it. */
function readJob(payload: unknown): WebhookJobData | z.infer<typeof preRenderedJobSchema> {
  const parsed = webhookJobDataSchema.safeParse(payload);
  if (parsed.success) return parsed.data;
  const preRendered = preRenderedJobSchema.safeParse(payload);
  if (preRendered.success) return preRendered.data;
  throw new UnrecoverableError(`invalid webhook job payload: ${parsed.error.message}`);
}

export function startWebhookDeliveryWorker(options: WebhookDeliveryWorkerOptions): Worker<WebhookJobData> {
  const keyPrefix = options.store?.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const retentionSeconds = options.store?.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
  const timeoutMs = options.timeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS;
  const log = options.log ?? silentWebhookLogger;
  const signer = new WebhookSigner(options.secrets);
  const allowList =
    options.allowList === undefined ||
    typeof options.allowList === 'string' ||
    Array.isArray(options.allowList)
      ? parseWebhookAllowList(options.allowList as string | readonly string[] | undefined)
      : (options.allowList as WebhookAllowList);
  const guard = new SsrfGuard({ allowList, resolver: options.resolver });
  const policy: WebhookBackoffPolicy = { ...DEFAULT_WEBHOOK_BACKOFF, ...options.backoff };

  const report = (outcome: WebhookDeliveryOutcome) => {
    try {
      options.onDelivery?.(outcome);
    } catch {
      // Metrics must never decide whether a webhook is delivered.
    }
    const level = outcome.result === 'delivered' ? 'info' : 'warn';
    log[level]({ ...outcome }, `webhook ${outcome.result}`);
  };

  const worker: Worker<WebhookJobData> = new Worker<WebhookJobData>(
    options.queueName ?? 'webhook',
    async (job) => {
      const data = readJob(job.data);
      // The same bytes on every attempt: rendered from the snapshot taken at the event.
      const body = 'body' in data ? data.body : options.renderBody(data);
      const redis: RedisClient = ioredisOf(await worker.client);
      const deliveryLog = new WebhookDeliveryLog(redis, { keyPrefix, retentionSeconds });
      const attempt = job.attemptsMade + 1;
      const isLastAttempt = attempt >= (job.opts.attempts ?? 1);
      const startedAt = Date.now();
      const base = {
        tenant: data.tenant,
        generationId: data.generationId,
        event: data.event,
        webhookId: data.webhookId,
        attempt,
      };
      const record = async (result: WebhookDeliveryResult, outcome: { status?: number; error?: string }) => {
        const durationMs = Date.now() - startedAt;
        await deliveryLog.append(data.generationId, {
          event: data.event,
          webhook_id: data.webhookId,
          attempt,
          at: new Date(startedAt).toISOString(),
          ...outcome,
          duration_ms: durationMs,
        });
        report({ ...base, ...outcome, result, durationMs });
      };

      if (await isEndpointDisabled(redis, data.tenant, data.url, keyPrefix)) {
        await record('skipped', { error: 'webhook_endpoint_disabled' });
        return { result: 'skipped' };
      }

      let status: number;
      let retryAfter: string | undefined;
      try {
        // Signed per attempt: the timestamp must be fresh (receivers allow ±5 min), the id stays.
        const headers = { ...signer.sign(data.tenant, { id: data.webhookId, body }) };
        ({ status, retryAfter } = await postWebhook(guard, {
          url: data.url,
          body,
          headers,
          timeoutMs,
          maxRedirects: options.maxRedirects,
        }));
      } catch (err) {
        const permanent = err instanceof WebhookError && err.permanent;
        const result = permanent ? 'refused' : isLastAttempt ? 'failed' : 'retrying';
        await record(result, { error: webhookErrorCode(err) });
        if (permanent) throw new UnrecoverableError((err as Error).message);
        throw err;
      }

      if (status >= 200 && status < 300) {
        await record('delivered', { status });
        return { result: 'delivered', status };
      }
      if (status === 410) {
        await disableEndpoint(redis, data.tenant, data.url, keyPrefix);
        await record('disabled', { status });
        throw new UnrecoverableError(new WebhookEndpointGoneError(data.url).message);
      }
      await record(isLastAttempt ? 'failed' : 'retrying', { status });
      throw new WebhookRejectedError(status, parseRetryAfter(retryAfter));
    },
    {
      connection: options.connection,
      prefix: options.prefix ?? DEFAULT_QUEUE_PREFIX,
      concurrency: options.concurrency ?? 4,
      settings: { backoffStrategy: webhookBackoffStrategy(policy) },
    },
  );
  return worker;
}
