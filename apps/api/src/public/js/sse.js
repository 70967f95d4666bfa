/**
 * Server-Sent Events over fetch. EventSource cannot send an Authorization header, and a
 * key in the query string would be written to access logs, so the page reads the stream
 * itself: fetch with the header, parse the `text/event-stream` format as it arrives, and
 * after a dropped connection ask again with Last-Event-ID to continue after the last
 * event seen.
 */
import { ApiError } from './api.js';

/** Until the server says otherwise with `retry:`. */
const DEFAULT_RETRY_MS = 2000;
/** Reconnections back off up to this delay while the server stays unreachable. */
const MAX_RETRY_MS = 15000;

/** The event-stream format, fed text as it arrives; `push` returns the events it completed. */
export class SseParser {
  /** The id of the last event dispatched: where a new connection continues from. */
  lastEventId = '';
  /** The reconnection delay the server asked for, or null. */
  retry = null;
  #buffer = '';
  #data = [];
  #event = '';
  /** The id given so far by the event being read; it counts once the event is complete. */
  #id = '';

  /** A new connection starts clean; only the last event id carries over. */
  reset() {
    this.#buffer = '';
    this.#data = [];
    this.#event = '';
    this.#id = this.lastEventId;
  }

  push(text) {
    this.#buffer += text;
    const events = [];
    // A lone CR at the very end may be the first half of a CRLF: wait for the next chunk.
    const lineBreak = /\r\n|\r(?!$)|\n/g;
    let start = 0;
    for (let match = lineBreak.exec(this.#buffer); match; match = lineBreak.exec(this.#buffer)) {
      this.#line(this.#buffer.slice(start, match.index), events);
      start = match.index + match[0].length;
    }
    this.#buffer = this.#buffer.slice(start);
    return events;
  }

  #line(line, events) {
    if (line === '') {
      this.lastEventId = this.#id;
      if (this.#data.length > 0) {
        events.push({ id: this.lastEventId, event: this.#event || 'message', data: this.#data.join('\n') });
      }
      this.#data = [];
      this.#event = '';
      return;
    }
    if (line.startsWith(':')) return; // a comment: keep-alive
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.#data.push(value);
    else if (field === 'event') this.#event = value;
    else if (field === 'id' && !value.includes('\0')) this.#id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Statuses worth asking again for: the request was fine, the moment was not. */
const RETRYABLE = new Set([429, 500, 502, 503, 504]);

/**
 * Follows an event stream until `isFinal` accepts an event, the server answers 204
 * (nothing more will come), or `signal` aborts. Resolves 'ended' or 'aborted'; rejects
 * with an ApiError the stream cannot get past (a bad key, an unknown id).
 *
 * @param {object} options
 * @param {string} options.path the stream's path on the API
 * @param {() => Record<string, string>} options.headers read on every (re)connection
 * @param {AbortSignal} options.signal
 * @param {(event: {id: string, event: string, data: string}) => void} options.onEvent
 * @param {(event: {id: string, event: string, data: string}) => boolean} options.isFinal
 * @param {(state: 'live' | 'reconnecting') => void} [options.onConnection]
 */
export async function followEvents({ path, headers, signal, onEvent, isFinal, onConnection = () => {} }) {
  const parser = new SseParser();
  let failures = 0;
  while (!signal.aborted) {
    let wait = null;
    try {
      const lastEventId = parser.lastEventId;
      const response = await fetch(path, {
        headers: {
          accept: 'text/event-stream',
          ...headers(),
          ...(lastEventId ? { 'last-event-id': lastEventId } : {}),
        },
        cache: 'no-store',
        signal,
      });
      if (response.status === 204) return 'ended';
      if (!response.ok) {
        const error = await ApiError.from(response);
        if (!RETRYABLE.has(response.status)) throw error;
        if (error.retryAfter !== null) wait = error.retryAfter * 1000;
      } else {
        onConnection('live');
        failures = 0;
        parser.reset();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
          for (const event of parser.push(chunk.value)) {
            onEvent(event);
            if (isFinal(event)) {
              await reader.cancel();
              return 'ended';
            }
          }
        }
        // The body ended before the final event: the server went away mid-stream.
      }
    } catch (error) {
      if (signal.aborted) return 'aborted';
      if (error instanceof ApiError) throw error;
      // The connection dropped or could not be made: ask again below.
    }
    onConnection('reconnecting');
    failures += 1;
    const delay = wait ?? Math.min((parser.retry ?? DEFAULT_RETRY_MS) * 2 ** (failures - 1), MAX_RETRY_MS);
    await sleep(delay, signal);
  }
  return 'aborted';
}
