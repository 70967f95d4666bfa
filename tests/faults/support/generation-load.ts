/**
 * Load for fault tests, driven the way clients drive the API: a steady stream of
 * submissions and, for every accepted one, a Server-Sent Events watcher that follows the
 * generation to its end, reconnecting with Last-Event-ID whenever its stream breaks (as
 * EventSource does). Each answer is recorded, so a test can say what the API told
 * clients while a dependency was away and that every 202 came to an end.
 */
import { sseEvents } from '../../../apps/api/src/testing/sse-events.ts';
import type { ApiClient, GenerationView } from '../../e2e/harness.ts';

export interface Answer {
  status: number;
  contentType: string | null;
  body: unknown;
}

export interface Accepted {
  id: string;
  /** The status of the terminal event the watcher saw (or read once its stream had ended). */
  ending: Promise<string>;
}

/** An answer that is an error in the API's format: `{ error: { code, message } }` as JSON. */
export function isApiError(answer: Answer, code: string): boolean {
  const error = (answer.body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return (
    (answer.contentType ?? '').startsWith('application/json') &&
    error?.code === code &&
    typeof error.message === 'string' &&
    error.message.length > 0
  );
}

export async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: kept as text, and isApiError says no.
  }
  return { status: res.status, contentType: res.headers.get('content-type'), body };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads a generation, waiting out answers that say a dependency is away (503). */
export async function readWhenServed(client: ApiClient, id: string): Promise<GenerationView> {
  for (;;) {
    const res = await client.request(`/v1/generations/${id}`).catch(() => null);
    if (res?.status === 200) return (await res.json()) as GenerationView;
    if (res && res.status !== 503) throw new Error(`GET ${id}: HTTP ${res.status} ${await res.text()}`);
    await res?.body?.cancel();
    await pause(200);
  }
}

/**
 * Follows a generation's events until its terminal event. A broken stream, a refused
 * connection or a 503 is retried from the last event seen; a 204 (ended, nothing after
 * the id given) is settled by reading the generation.
 */
export async function watchToEnd(client: ApiClient, id: string): Promise<string> {
  let lastEventId: string | undefined;
  for (;;) {
    const res = await client
      .request(`/v1/generations/${id}/events`, {
        headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
      })
      .catch(() => null);
    if (res?.status === 204) return (await readWhenServed(client, id)).status;
    if (res?.status === 200 && res.body) {
      const events = sseEvents<GenerationView>(res.body);
      try {
        for (let event = await events.next(); event; event = await events.next()) {
          if (event.id) lastEventId = event.id;
          if (event.event.startsWith('generation.')) {
            await events.cancel();
            return event.data.status;
          }
        }
      } catch {
        // The stream broke (the API lost Redis or the connection was cut): resume below.
      }
    } else if (res && res.status !== 503) {
      throw new Error(`events of ${id}: HTTP ${res.status} ${await res.text()}`);
    } else {
      await res?.body?.cancel();
    }
    await pause(200);
  }
}

export interface SubmissionStream {
  /** Every generation answered 202, in order. */
  accepted: Accepted[];
  /** Every other answer, in order. */
  refused: Answer[];
  /** Resolves once the submission in flight (if any) has its answer; then no more are sent. */
  stop(): Promise<void>;
}

/**
 * Submits `body` one request after another, `gapMs` apart, until stopped; every 202
 * gets a watcher at once.
 */
export function startSubmissions(
  client: ApiClient,
  body: Record<string, unknown>,
  gapMs: number,
): SubmissionStream {
  const accepted: Accepted[] = [];
  const refused: Answer[] = [];
  let stopping = false;
  const loop = (async () => {
    let seed = 0;
    while (!stopping) {
      seed += 1;
      const res = await client
        .request('/v1/generations', { method: 'POST', body: JSON.stringify({ ...body, seed }) })
        .catch((error: Error) => ({ error }));
      if ('error' in res) {
        refused.push({ status: 0, contentType: null, body: res.error.message });
      } else {
        const answer = await answerOf(res);
        if (answer.status === 202) {
          const { id } = answer.body as GenerationView;
          const ending = watchToEnd(client, id);
          ending.catch(() => undefined);
          accepted.push({ id, ending });
        } else {
          refused.push(answer);
        }
      }
      await pause(gapMs);
    }
  })();
  return {
    accepted,
    refused,
    async stop() {
      stopping = true;
      await loop;
    },
  };
}
