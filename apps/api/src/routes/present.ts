import type { GenerationRecord } from '@glm-image/shared/generation';
import type { FastifyRequest } from 'fastify';
import type { ApiContext } from '../context.ts';
import type { GenerationView } from '../schemas/generation.ts';
import { baseUrlOf, toGenerationView } from '../services/generation-view.ts';
import { queuePosition } from '../services/queue-position.ts';
import { webhookDeliveryView } from '../services/webhook-log.ts';

/** The client-facing object for a record, with its queue position while it waits and its webhook log. */
export async function presentGeneration(
  ctx: ApiContext,
  request: FastifyRequest,
  record: GenerationRecord,
  options: { withQueuePosition?: boolean } = {},
): Promise<GenerationView> {
  let position: number | null = null;
  if (record.status === 'queued' && (options.withQueuePosition ?? true)) {
    // Re-renders wait in the decode queue under their decode job id.
    position = record.input.source_generation_id
      ? await queuePosition(ctx.decodeQueue, ctx.redis, `${record.id}-decode`).catch(() => null)
      : await queuePosition(ctx.planQueue, ctx.redis, record.id).catch(() => null);
  }
  const view: GenerationView = toGenerationView(record, {
    baseUrl: baseUrlOf(request),
    objects: ctx.objects,
    queuePosition: position,
  });
  const webhook = await webhookDeliveryView(ctx, record);
  if (webhook) view.webhook = webhook;
  return view;
}
