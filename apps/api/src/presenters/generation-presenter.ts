/**
 * The one presenter of the generation object, for every way a client sees it: GET,
 * list, the event stream and webhook bodies. Object-store keys become URLs (public
 * object-store URLs when the bucket is published, else the API's own streaming routes)
 * and internal fields (tenant, keys, priority) stay behind. Answers of the API also carry
 * the queue position while queued and the webhook delivery log.
 */
import type { GenerationRecord, StoredImage } from '@glm-image/shared/generation';
import type { GenerationView, PublicGeneration } from '@glm-image/shared/public-generation';
import { decodeJobId } from '@glm-image/shared/queues';
import type { RedisClient } from '@glm-image/shared/redis';
import { readDeliveryLog } from '@glm-image/shared/webhooks/delivery-log';
import type { Queue } from 'bullmq';
import { queuePosition } from '../services/queue-position.ts';

export interface PublicUrls {
  /** The public URL of an object, or null when the bucket is not published. */
  publicUrl(key: string): string | null;
}

export function generationPath(id: string): string {
  return `/v1/generations/${encodeURIComponent(id)}`;
}

export interface PresenterDeps {
  objects: PublicUrls;
  redis: RedisClient;
  keyPrefix: string;
  planQueue: Queue;
  decodeQueue: Queue;
}

export class GenerationPresenter {
  constructor(private readonly deps: PresenterDeps) {}

  /** The generation object alone, as events and webhook bodies carry it. */
  view(record: GenerationRecord, baseUrl: string): PublicGeneration {
    const self = `${baseUrl.replace(/\/+$/, '')}${generationPath(record.id)}`;
    const objectUrl = (key: string, apiPath: string) =>
      this.deps.objects.publicUrl(key) ?? `${self}${apiPath}`;
    const image = (stored: StoredImage, apiPath: string) => ({
      url: objectUrl(stored.key, apiPath),
      width: stored.width,
      height: stored.height,
      format: stored.format,
      bytes: stored.bytes,
      sha256: stored.sha256,
    });
    const { reference_images: references, ...input } = record.input;
    const view: PublicGeneration = {
      id: record.id,
      status: record.status,
      created_at: record.created_at,
      input: {
        ...input,
        ...(references?.length
          ? { reference_images: references.map((ref, index) => image(ref, `/references/${index}`)) }
          : {}),
        decode: record.input.decode ?? true,
      },
      progress: { ...record.progress },
      outputs: record.outputs.map((output, index) => image(output, `/outputs/${index}`)),
      timings: { ...record.timings },
      urls: { self, events: `${self}/events`, cancel: `${self}/cancel` },
    };
    if (record.started_at) view.started_at = record.started_at;
    if (record.completed_at) view.completed_at = record.completed_at;
    if (record.preview) {
      view.preview = {
        url: objectUrl(record.preview.key, '/preview'),
        width: record.preview.width,
        height: record.preview.height,
      };
    }
    if (record.error) view.error = { code: record.error.code, message: record.error.message };
    if (record.metadata) view.metadata = record.metadata;
    if (record.quality) view.quality = record.quality;
    if (record.feedback && record.feedback.length > 0) view.feedback = record.feedback;
    if (record.cancel_requested && record.status !== 'canceled') view.cancel_requested = true;
    return view;
  }

  /**
   * The API's answer: the view, with the queue position while queued (skipped for lists,
   * where it would cost a lookup per item) and the webhook delivery log.
   */
  async present(
    record: GenerationRecord,
    baseUrl: string,
    options: { withQueuePosition?: boolean } = {},
  ): Promise<GenerationView> {
    const view: GenerationView = this.view(record, baseUrl);
    if (record.status === 'queued' && (options.withQueuePosition ?? true)) {
      const position = await this.queuePositionOf(record).catch(() => null);
      if (position !== null) view.queue_position = position;
    }
    const webhook = record.input.webhook;
    if (webhook) {
      const log = await readDeliveryLog(this.deps.redis, record.id, this.deps.keyPrefix);
      view.webhook = {
        url: webhook.url,
        events: [...webhook.events],
        deliveries: log?.deliveries ?? 0,
        last_status: log?.last_status ?? null,
        attempts: log?.attempts ?? [],
      };
    }
    return view;
  }

  /** Re-renders wait in the decode queue under their decode job id, others in the plan queue. */
  private queuePositionOf(record: GenerationRecord): Promise<number | null> {
    return record.input.source_generation_id
      ? queuePosition(this.deps.decodeQueue, this.deps.redis, decodeJobId(record.id))
      : queuePosition(this.deps.planQueue, this.deps.redis, record.id);
  }
}
