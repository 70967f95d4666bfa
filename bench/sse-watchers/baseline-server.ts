/**
 * The baseline of the SSE watchers benchmark: event streams served the way the API served
 * them before its event hub. After reading what the client missed, each stream waits for
 * the next events with a blocking XREAD (5 s) on a connection of its own, taken from a
 * pool of up to 64 idle connections; a read that finds the pool full closes its
 * connection, and the next read of a stream with nothing idle opens a new one. The loop,
 * the progress collapsing and the framing (@fastify/sse) are the old route's; auth and rate
 * limits are left out, which only makes the baseline cheaper.
 */
import { fastifySSE, type SSEMessage } from '@fastify/sse';
import { type GenerationRecord, isTerminal } from '@glm-image/shared/generation';
import type {
  GenerationEvent,
  GenerationEventType,
  GenerationStore,
} from '@glm-image/shared/generation-store';
import type { RedisClient } from '@glm-image/shared/redis';
import Fastify, { type FastifyInstance } from 'fastify';
import type { GenerationPresenter } from '../../apps/api/src/presenters/generation-presenter.ts';

const MAX_IDLE_BLOCKING = 64;
const READ_BLOCK_MS = 5_000;
const PROGRESS_INTERVAL_MS = 250;

/** The store's blocking read as it was: a pooled connection per waiting reader. */
export class BlockingReads {
  private readonly idle: RedisClient[] = [];

  constructor(
    private readonly redis: RedisClient,
    private readonly store: GenerationStore,
  ) {}

  async read(id: string, afterId: string, blockMs: number, count = 100): Promise<GenerationEvent[]> {
    const blocking = this.idle.pop() ?? this.redis.duplicate();
    let reusable = false;
    let reply: [string, [string, string[]][]][] | null;
    try {
      reply = (await blocking.xread(
        'COUNT',
        count,
        'BLOCK',
        blockMs,
        'STREAMS',
        this.store.keys.events(id),
        afterId,
      )) as typeof reply;
      reusable = true;
    } finally {
      if (reusable && this.idle.length < MAX_IDLE_BLOCKING) this.idle.push(blocking);
      else blocking.disconnect();
    }
    return (reply?.[0]?.[1] ?? []).map(([entryId, fields]) => {
      const values = new Map<string, string>();
      for (let i = 0; i + 1 < fields.length; i += 2) values.set(fields[i]!, fields[i + 1]!);
      const data = JSON.parse(values.get('data') ?? '{}') as GenerationRecord;
      // Lua's cjson writes an empty array as {}: the store restores it, and so does this.
      if (!Array.isArray(data.outputs)) data.outputs = [];
      return { id: entryId, type: (values.get('type') ?? 'update') as GenerationEventType, data };
    });
  }

  close(): void {
    for (const connection of this.idle.splice(0)) connection.disconnect();
  }
}

function eventName(event: GenerationEvent): string {
  if (event.type === 'status' && isTerminal(event.data.status)) return `generation.${event.data.status}`;
  return event.type;
}

function collapseProgress(events: GenerationEvent[]): GenerationEvent[] {
  return events.filter((event, i) => !(event.type === 'progress' && events[i + 1]?.type === 'progress'));
}

/** GET /events/:id: the old route's loop over the blocking reads above. */
export async function startBaselineServer(options: {
  redis: RedisClient;
  store: GenerationStore;
  presenter: GenerationPresenter;
}): Promise<{ url: string; readonly failedStreams: number; close(): Promise<void> }> {
  const { store, presenter } = options;
  let failedStreams = 0;
  const reads = new BlockingReads(options.redis, store);
  const app: FastifyInstance = Fastify({ logger: false });
  await app.register(fastifySSE, { heartbeatInterval: 15_000 });
  app.get<{ Params: { id: string } }>('/events/:id', { sse: 'manual' }, async (request, reply) => {
    const { id } = request.params;
    const record = await store.get(id);
    if (!record) return reply.code(404).send(null);
    const sse = reply.sse;
    const baseUrl = `http://${request.headers.host}`;
    let cursor = '0';
    let events = await store.readEvents(id, cursor);
    const gone = new Promise<void>((resolve) => sse.onClose(resolve));
    const send = (message: SSEMessage) => Promise.race([sse.send(message), gone]);
    reply.headers({ 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    sse.sendHeaders();
    let lastProgress = 0;
    try {
      while (sse.isConnected) {
        for (const event of collapseProgress(events)) {
          if (!sse.isConnected) return;
          cursor = event.id;
          await send({ id: event.id, event: eventName(event), data: presenter.view(event.data, baseUrl) });
          if (event.type === 'progress') lastProgress = Date.now();
          if (event.type === 'status' && isTerminal(event.data.status)) return;
        }
        const sinceProgress = Date.now() - lastProgress;
        if (sinceProgress < PROGRESS_INTERVAL_MS) {
          await new Promise((resolve) => setTimeout(resolve, PROGRESS_INTERVAL_MS - sinceProgress));
        }
        if (!sse.isConnected) break;
        events = await reads.read(id, cursor, READ_BLOCK_MS);
      }
    } catch {
      failedStreams += 1; // the old route logged it and ended the stream
    }
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get failedStreams() {
      return failedStreams;
    },
    async close() {
      await app.close();
      reads.close();
    },
  };
}
