/** Reads Server-Sent Events from a response body in tests, with eventsource-parser. */
import { EventSourceParserStream } from 'eventsource-parser/stream';

export interface SseEvent<Data = unknown> {
  id: string;
  event: string;
  data: Data;
}

export interface SseEvents<Data> {
  /** The next named event, or null once the server ended the stream. */
  next(): Promise<SseEvent<Data> | null>;
  /** Every remaining event until the server ends the stream. */
  rest(): Promise<SseEvent<Data>[]>;
  /** Drops the connection from the client's side. */
  cancel(): Promise<void>;
}

export function sseEvents<Data = unknown>(body: ReadableStream<Uint8Array>): SseEvents<Data> {
  const reader = body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(new EventSourceParserStream())
    .getReader();
  const next = async (): Promise<SseEvent<Data> | null> => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return null;
      if (!value.event) continue; // unnamed frames carry no generation event
      return { id: value.id ?? '', event: value.event, data: JSON.parse(value.data) as Data };
    }
  };
  return {
    next,
    cancel: () => reader.cancel(),
    async rest() {
      const events: SseEvent<Data>[] = [];
      for (let event = await next(); event; event = await next()) events.push(event);
      return events;
    },
  };
}
