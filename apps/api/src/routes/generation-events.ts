import type { SSEMessage } from '@fastify/sse';
import { InvalidInputError } from '@glm-image/shared/errors';
import { isTerminal } from '@glm-image/shared/generation';
import type { GenerationEvent } from '@glm-image/shared/generation-store';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sends } from '../openapi/complete-document.ts';
import { principalOf } from '../plugins/auth.ts';
import { errorResponses, GenerationIdParams } from '../schemas/generation.ts';
import type { EventWatch } from '../services/event-hub.ts';

/**
 * Server-Sent Events of one generation, read from its Redis event stream, so any API
 * replica can serve any client. Each event's `id` is the stream entry id: a client that
 * reconnects with `Last-Event-ID` continues right after the last event it saw. The
 * stream ends after the terminal event; reconnecting after that answers 204, which
 * tells EventSource clients to stop. What the client missed is read from the stream
 * once; what follows arrives through the process's event hub (services/event-hub.ts),
 * so a client costs no Redis connection of its own however many are watching. Framing,
 * headers and keep-alive comments come from @fastify/sse (registered in app.ts with
 * KEEP_ALIVE_MS as its heartbeat).
 */

/** Comment lines keep proxies from closing an idle connection. */
export const KEEP_ALIVE_MS = 15_000;
/** At most this many progress events per second per client; the latest one always arrives. */
const PROGRESS_INTERVAL_MS = 250;
const RECONNECT_DELAY_MS = 2_000;

function eventName(event: GenerationEvent): string {
  if (event.type === 'status' && isTerminal(event.data.status)) return `generation.${event.data.status}`;
  return event.type;
}

/** Runs of progress events in one read collapse to their last: only the latest step matters. */
function collapseProgress(events: GenerationEvent[]): GenerationEvent[] {
  return events.filter((event, i) => !(event.type === 'progress' && events[i + 1]?.type === 'progress'));
}

const UINT64_MAX = 2n ** 64n - 1n;

/**
 * An event id Redis takes: `$`, or `<ms>[-<seq>]` with each part an unsigned 64-bit
 * number. Larger digits are refused here as malformed; Redis would fail the read.
 */
export function isEventId(id: string): boolean {
  if (id === '$') return true;
  const match = /^(\d{1,20})(?:-(\d{1,20}))?$/.exec(id);
  return match?.slice(1).every((part) => part === undefined || BigInt(part) <= UINT64_MAX) === true;
}

const EventsQuery = z.object({
  last_event_id: z
    .string()
    .max(64)
    .optional()
    .describe('Same as the Last-Event-ID header, for clients that cannot set headers.'),
});

const EventsHeaders = z.looseObject({
  'last-event-id': z
    .string()
    .optional()
    .describe('The `id` of the last event received: the stream resumes right after it.'),
});

export const generationEventRoutes: FastifyPluginAsyncZod = async (app) => {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const close of open) close();
  });

  app.get(
    '/v1/generations/:id/events',
    {
      // 'manual': no Accept negotiation, as before: every client that reaches the stream
      // gets it, whatever it sends as Accept; errors and the 204 stay ordinary replies.
      sse: 'manual',
      schema: {
        tags: ['generations'],
        operationId: 'streamGenerationEvents',
        summary: 'Follow a generation as Server-Sent Events',
        description:
          'Events: `status`, `progress`, `preview`, `cancel_requested`, `update`, and a terminal ' +
          '`generation.succeeded` | `generation.failed` | `generation.canceled`, after which the stream ends. ' +
          'Each carries the generation object as `data` and a resumable `id` (send it back as `Last-Event-ID`). ' +
          'Answers 204 when the generation has ended and nothing follows the given id.',
        security: [{ bearerAuth: [] }],
        params: GenerationIdParams,
        querystring: EventsQuery,
        headers: EventsHeaders,
        response: {
          200: {
            description: 'The event stream.',
            content: {
              'text/event-stream': {
                schema: z
                  .string()
                  .describe('Server-Sent Events; each `data` is the generation object as JSON.'),
              },
            },
          },
          204: z.null().describe('The generation has ended and no event follows Last-Event-ID.'),
          ...errorResponses(400, 404, 503),
        },
        ...sends({ 200: ['Cache-Control'] }),
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const record = await app.reads.find(principalOf(request), id);
      const sse = reply.sse;
      // The header itself rather than sse.lastEventId, which reads an empty header as none:
      // an empty id is malformed here and answers 400 like any other.
      const header = request.headers['last-event-id'];
      let cursor = (Array.isArray(header) ? header[0] : header) ?? request.query.last_event_id ?? '0';
      const baseUrl = app.env.PUBLIC_API_URL;
      const present = (event: GenerationEvent) => app.presenter.view(event.data, baseUrl);

      // A malformed id fails here, before anything is streamed, as a 400.
      if (!isEventId(cursor)) throw new InvalidInputError('Last-Event-ID', 'not an event id');
      const missed = await app.store.readEvents(id, cursor);
      if (missed.length === 0 && isTerminal(record.status)) return reply.code(204).send(null);
      if (!sse.isConnected) return; // gone during the read
      // `$` asks for only what comes next: from the latest event, now that it is known.
      if (cursor === '$') cursor = (await app.store.lastEventId(id)) ?? '0';

      const close = () => sse.close();
      open.add(close);
      sse.onClose(() => open.delete(close));
      // send() settles only on 'drain' or 'error', and a client that stopped reading and then
      // went away emits neither (fastify/sse#54); racing the close keeps this loop from
      // waiting forever on such a client.
      const gone = new Promise<void>((resolve) => sse.onClose(resolve));
      const send = (message: SSEMessage) => Promise.race([sse.send(message), gone]);

      // The 200 goes out now rather than with the first event, which may be a while away
      // for a client that resumes mid-run.
      reply.headers({
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
      });
      sse.sendHeaders();
      let lastProgress = 0;
      let watch: EventWatch | null = null;
      // A client that goes away ends the watch: its pending next() resolves null.
      sse.onClose(() => watch?.close());
      try {
        // A frame without data only sets the client's reconnection delay.
        await send({ data: undefined, retry: RECONNECT_DELAY_MS });
        for (let events: GenerationEvent[] | null = missed; events; ) {
          for (const event of collapseProgress(events)) {
            if (!sse.isConnected) return;
            cursor = event.id;
            await send({ id: event.id, event: eventName(event), data: present(event) });
            if (event.type === 'progress') lastProgress = Date.now();
            // Returning ends the response: the plugin closes it once the handler is done.
            if (event.type === 'status' && isTerminal(event.data.status)) return;
          }
          const sinceProgress = Date.now() - lastProgress;
          if (sinceProgress < PROGRESS_INTERVAL_MS) {
            // Let further progress events gather; the hub keeps only the latest of a run.
            await new Promise((resolve) => setTimeout(resolve, PROGRESS_INTERVAL_MS - sinceProgress));
          }
          if (!sse.isConnected) return;
          watch ??= app.eventHub.watch(id, cursor);
          // Null once the client is gone or the API shuts down: either way the stream ends.
          events = await watch.next();
        }
      } catch (error) {
        // Headers are gone already; all that is left is to log, and returning ends the
        // stream. The client reconnects with Last-Event-ID and loses nothing.
        request.log.warn({ err: error }, 'event stream ended early');
      } finally {
        watch?.close();
      }
    },
  );
};
