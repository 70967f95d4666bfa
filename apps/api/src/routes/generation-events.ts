import type { ServerResponse } from 'node:http';
import { isTerminal } from '@glm-image/shared/generation';
import type { GenerationEvent } from '@glm-image/shared/generation-store';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiContext } from '../context.ts';
import { principalOf } from '../plugins/auth.ts';
import { errorResponses, GenerationIdParams } from '../schemas/generation.ts';
import type { GenerationService } from '../services/generation-service.ts';
import { baseUrlOf, toGenerationView } from '../services/generation-view.ts';

/**
 * Server-Sent Events of one generation, read from its Redis event stream, so any API
 * replica can serve any client. Each event's `id` is the stream entry id: a client that
 * reconnects with `Last-Event-ID` continues right after the last event it saw. The
 * stream ends after the terminal event; reconnecting after that answers 204, which
 * tells EventSource clients to stop.
 */

/** Comment lines keep proxies from closing an idle connection. */
export const KEEP_ALIVE_MS = 15_000;
/** At most this many progress events per second per client; the latest one always arrives. */
const PROGRESS_INTERVAL_MS = 250;
/** How long one stream read blocks; short enough that a closed client is noticed soon. */
const READ_BLOCK_MS = 5_000;
const RECONNECT_DELAY_MS = 2_000;

function eventName(event: GenerationEvent): string {
  if (event.type === 'status' && isTerminal(event.data.status)) return `generation.${event.data.status}`;
  return event.type;
}

function writeFrame(raw: ServerResponse, frame: { id: string; event: string; data: unknown }): void {
  raw.write(`id: ${frame.id}\nevent: ${frame.event}\ndata: ${JSON.stringify(frame.data)}\n\n`);
}

/** Runs of progress events in one read collapse to their last: only the latest step matters. */
function collapseProgress(events: GenerationEvent[]): GenerationEvent[] {
  return events.filter((event, i) => !(event.type === 'progress' && events[i + 1]?.type === 'progress'));
}

const EventsQuery = z.object({
  last_event_id: z
    .string()
    .max(64)
    .optional()
    .describe('Same as the Last-Event-ID header, for clients that cannot set headers.'),
});

export const generationEventRoutes: FastifyPluginAsyncZod<{
  context: ApiContext;
  service: GenerationService;
}> = async (app, { context, service }) => {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });

  app.get(
    '/v1/generations/:id/events',
    {
      schema: {
        tags: ['generations'],
        summary: 'Follow a generation as Server-Sent Events',
        description:
          'Events: `status`, `progress`, `preview`, `cancel_requested`, `update`, and a terminal ' +
          '`generation.succeeded` | `generation.failed` | `generation.canceled`, after which the stream ends. ' +
          'Each carries the generation object as `data` and a resumable `id` (send it back as `Last-Event-ID`). ' +
          'Answers 204 when the generation has ended and nothing follows the given id.',
        security: [{ bearerAuth: [] }],
        params: GenerationIdParams,
        querystring: EventsQuery,
        response: {
          204: z.null().describe('The generation has ended and no event follows Last-Event-ID.'),
          ...errorResponses(400, 401, 404, 429),
        },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const record = await service.find(principalOf(request), id);
      const header = request.headers['last-event-id'];
      let cursor = (Array.isArray(header) ? header[0] : header) ?? request.query.last_event_id ?? '0';
      const baseUrl = baseUrlOf(request);
      const present = (event: GenerationEvent) =>
        toGenerationView(event.data, { baseUrl, objects: context.objects });

      let events = await context.store.readEvents(id, cursor, 0);
      if (events.length === 0 && isTerminal(record.status)) return reply.code(204).send(null);

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      raw.write(`retry: ${RECONNECT_DELAY_MS}\n\n`);

      let closed = false;
      const end = () => {
        if (closed) return;
        closed = true;
        open.delete(end);
        raw.end();
      };
      open.add(end);
      raw.once('close', end);

      let lastWrite = Date.now();
      let lastProgress = 0;
      try {
        while (!closed) {
          for (const event of collapseProgress(events)) {
            cursor = event.id;
            writeFrame(raw, { id: event.id, event: eventName(event), data: present(event) });
            lastWrite = Date.now();
            if (event.type === 'progress') lastProgress = lastWrite;
            if (event.type === 'status' && isTerminal(event.data.status)) {
              end();
              return;
            }
          }
          const sinceProgress = Date.now() - lastProgress;
          if (sinceProgress < PROGRESS_INTERVAL_MS) {
            // Let further progress events gather; they collapse into one on the next read.
            await new Promise((resolve) => setTimeout(resolve, PROGRESS_INTERVAL_MS - sinceProgress));
          }
          if (closed) break;
          events = await context.store.readEvents(id, cursor, READ_BLOCK_MS);
          if (events.length === 0 && !closed && Date.now() - lastWrite >= KEEP_ALIVE_MS) {
            raw.write(': keep-alive\n\n');
            lastWrite = Date.now();
          }
        }
      } catch (error) {
        // Headers are gone already; all that is left is to log and end the stream. The
        // client reconnects with Last-Event-ID and loses nothing.
        request.log.warn({ err: error }, 'event stream ended early');
        end();
      }
    },
  );
};
