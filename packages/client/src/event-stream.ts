import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { EventStreamError } from './errors.ts';
import type { Generation } from './types.ts';

/**
 * One connection to a generation's Server-Sent Events, read as updates. The API sends a
 * keep-alive comment every 15 s, so a connection that stays silent much longer than that
 * is dead (a proxy dropped it without closing): it is aborted, and the caller reconnects
 * with the last event id. A connection that delivers no byte at all is most likely
 * behind a proxy that buffers streams; that is an EventStreamError, and `wait` polls.
 */

/** One change of a generation: the SSE event name (`status`, `progress`, `preview`, …, or `poll`) and the object. */
export interface GenerationUpdate {
  event: string;
  /** The event's id, for Last-Event-ID; absent for polled updates. */
  id?: string;
  generation: Generation;
}

export const DEFAULT_IDLE_TIMEOUT_MS = 45_000;

export interface ReadOptions {
  /** Abort the connection after this long without a byte. Default: 45 s (three keep-alives). */
  idleTimeoutMs?: number;
  /** Aborts the connection (the caller links it to its own signal). */
  abort: AbortController;
  /** Told the reconnection delay the server asks for. */
  onRetryDelay?: (ms: number) => void;
}

export async function* readGenerationEvents(
  body: ReadableStream<Uint8Array>,
  options: ReadOptions,
): AsyncGenerator<GenerationUpdate> {
  const pending: EventSourceMessage[] = [];
  let malformed: Error | null = null;
  const parser = createParser({
    onEvent: (message) => pending.push(message),
    ...(options.onRetryDelay ? { onRetry: options.onRetryDelay } : {}),
  });
  const idleMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const armWatchdog = () => {
    clearTimeout(timer);
    timer = setTimeout(() => options.abort.abort(new Error(`no data for ${idleMs} ms`)), idleMs);
  };
  let bytes = 0;
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  armWatchdog();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      bytes += value.length;
      armWatchdog();
      parser.feed(value);
      while (pending.length > 0) {
        const message = pending.shift()!;
        if (!message.data) continue;
        let generation: Generation;
        try {
          generation = JSON.parse(message.data) as Generation;
        } catch (error) {
          malformed = error as Error;
          break;
        }
        yield { event: message.event ?? 'message', ...(message.id ? { id: message.id } : {}), generation };
      }
      if (malformed) throw new EventStreamError(`an event is not JSON: ${malformed.message}`);
    }
  } catch (error) {
    if (bytes === 0) throw new EventStreamError('the event stream delivered nothing', { cause: error });
    throw error;
  } finally {
    clearTimeout(timer);
    reader.cancel().catch(() => undefined);
  }
  if (bytes === 0) throw new EventStreamError('the event stream ended before it delivered anything');
}
