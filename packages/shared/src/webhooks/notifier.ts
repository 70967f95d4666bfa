/**
 * Turns a generation event into a webhook delivery job. Enqueues only when the request
 * asked for a webhook and for this event; the job id is deterministic, so however often
 * an event is announced (worker retries, a crash after the transition), it is delivered once.
 *
 * The job carries the record as it was when the event happened, not a rendered body:
 * the delivery side (the API) renders the generation object as clients see it, with its
 * URLs, so that no worker needs to know how the API's URLs look.
 */
import type { Queue } from 'bullmq';
import { z } from 'zod';
import {
  DEFAULT_RETENTION_SECONDS,
  type GenerationRecord,
  TERMINAL_STATUSES,
  WEBHOOK_EVENTS,
  type WebhookEvent,
} from '../generation.ts';
import { DEFAULT_KEY_PREFIX } from '../keys.ts';
import { ioredisOf, WebhookDeliveryLog } from './delivery-log.ts';
import { isEndpointDisabled } from './disabled-endpoints.ts';

export const webhookJobDataSchema = z.object({
  generationId: z.string().min(1),
  tenant: z.string().min(1),
  event: z.enum(WEBHOOK_EVENTS),
  url: z.string().min(1),
  /** The webhook-id header, the same on every attempt. */
  webhookId: z.string().min(1),
  /** ISO time of the event (not of an attempt); with `record` it fixes the body every attempt sends. */
  timestamp: z.string().min(1),
  /** The record right after the event. */
  record: z.custom<GenerationRecord>(
    (value) => typeof (value as GenerationRecord | null)?.id === 'string',
    'must be a generation record',
  ),
});
export type WebhookJobData = z.infer<typeof webhookJobDataSchema>;

/** The name the delivery worker registers its backoff strategy under. */
export const WEBHOOK_BACKOFF_TYPE = 'webhook-exponential-jitter';

/** Events sent when the request names none: the terminal ones. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = TERMINAL_STATUSES.map(
  (status) => `generation.${status}` as WebhookEvent,
);

export const DEFAULT_WEBHOOK_ATTEMPTS = 8;

export function webhookJobId(generationId: string, event: WebhookEvent): string {
  return `${generationId}-${event}`;
}

export function webhookMessageId(generationId: string, event: WebhookEvent): string {
  return `msg_${generationId}_${event}`;
}

/** A pino-compatible subset, so the API's or a worker's logger plugs in directly. */
export interface WebhookLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export const silentWebhookLogger: WebhookLogger = { info() {}, warn() {} };

export interface WebhookNotifierOptions {
  /** The generation store (or its settings): supplies keyPrefix and retentionSeconds unless given below. */
  store?: { keyPrefix?: string; retentionSeconds?: number };
  /** Key prefix shared with the generation store (default `{glm}:`). */
  keyPrefix?: string;
  /** How long finished jobs (and so their dedupe) and log entries are kept: the generation's retention. */
  retentionSeconds?: number;
  /** Delivery attempts per event before giving up. */
  attempts?: number;
  log?: WebhookLogger;
}

export class WebhookNotifier {
  private readonly keyPrefix: string;
  private readonly retentionSeconds: number;
  private readonly attempts: number;
  private readonly log: WebhookLogger;

  constructor(
    private readonly queue: Queue<WebhookJobData>,
    options: WebhookNotifierOptions = {},
  ) {
    this.keyPrefix = options.keyPrefix ?? options.store?.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.retentionSeconds =
      options.retentionSeconds ?? options.store?.retentionSeconds ?? DEFAULT_RETENTION_SECONDS;
    this.attempts = options.attempts ?? DEFAULT_WEBHOOK_ATTEMPTS;
    this.log = options.log ?? silentWebhookLogger;
  }

  async notify(record: GenerationRecord, event: WebhookEvent): Promise<void> {
    const webhook = record.input.webhook;
    if (!webhook) return;
    const events = webhook.events.length > 0 ? webhook.events : DEFAULT_WEBHOOK_EVENTS;
    if (!events.includes(event)) return;

    const redis = ioredisOf(await this.queue.client);
    const webhookId = webhookMessageId(record.id, event);
    const context = { generation_id: record.id, tenant: record.tenant, event, url: webhook.url };
    if (await isEndpointDisabled(redis, record.tenant, webhook.url, this.keyPrefix)) {
      this.log.warn(context, 'webhook endpoint disabled after 410 Gone; event not sent');
      await new WebhookDeliveryLog(redis, {
        keyPrefix: this.keyPrefix,
        retentionSeconds: this.retentionSeconds,
      }).append(record.id, {
        event,
        webhook_id: webhookId,
        attempt: 0,
        at: new Date().toISOString(),
        error: 'webhook_endpoint_disabled',
        duration_ms: 0,
      });
      return;
    }

    const data: WebhookJobData = {
      generationId: record.id,
      tenant: record.tenant,
      event,
      url: webhook.url,
      webhookId,
      timestamp: new Date().toISOString(),
      record,
    };
    // Finished jobs are kept for the retention period rather than removed: BullMQ ignores an
    // add whose id exists, and that is what makes a repeated notify a no-op.
    await this.queue.add(event, data, {
      jobId: webhookJobId(record.id, event),
      attempts: this.attempts,
      backoff: { type: WEBHOOK_BACKOFF_TYPE },
      removeOnComplete: { age: this.retentionSeconds },
      removeOnFail: { age: this.retentionSeconds },
    });
    this.log.info(context, 'webhook delivery enqueued');
  }
}
