/**
 * The `webhook` field of the generation object: the target the client gave and what
 * happened to every delivery attempt, read from the log the delivery worker keeps beside
 * the generation, so a client can see why a webhook did not arrive without asking anyone.
 */
import type { GenerationRecord } from '@glm-image/shared/generation';
import { readDeliveryLog } from '@glm-image/shared/webhooks/delivery-log';
import type { ApiContext } from '../context.ts';
import type { WebhookDeliveryView } from '../schemas/generation.ts';

/** Undefined when the generation has no webhook. */
export async function webhookDeliveryView(
  ctx: Pick<ApiContext, 'redis' | 'keyPrefix'>,
  record: GenerationRecord,
): Promise<WebhookDeliveryView | undefined> {
  const webhook = record.input.webhook;
  if (!webhook) return undefined;
  const log = await readDeliveryLog(ctx.redis, record.id, ctx.keyPrefix);
  return {
    url: webhook.url,
    events: [...webhook.events],
    deliveries: log?.deliveries ?? 0,
    last_status: log?.last_status ?? null,
    attempts: log?.attempts ?? [],
  };
}
