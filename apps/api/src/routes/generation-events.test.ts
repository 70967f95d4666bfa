import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, KEYS, startApiStack } from '../testing/api-stack.ts';
import { type SseEvent, sseEvents } from '../testing/sse-events.ts';

/** Server-Sent Events over real HTTP: framing, resumption with Last-Event-ID, the end. */

let stack: ApiStack;
let origin: string;
beforeAll(async () => {
  stack = await startApiStack();
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await stack?.close();
});

interface EventData {
  id: string;
  status: string;
  progress: { stage: string; step?: number };
}

async function submit(prompt: string): Promise<string> {
  const res = await fetch(`${origin}/v1/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEYS.acme}`, 'content-type': 'application/json' },
    body: JSON.stringify({ prompt }),
  });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as { id: string };
  await stack.context.planQueue.remove(id); // the test plays the workers
  return id;
}

function follow(id: string, lastEventId?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${KEYS.acme}` };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  return fetch(`${origin}/v1/generations/${id}/events`, { headers });
}

describe('GET /v1/generations/{id}/events', () => {
  it('streams every state change with resumable ids and ends after the terminal event', async () => {
    const id = await submit('followed');
    const res = await follow(id);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const stream = sseEvents<EventData>(res.body!);
    const first = await stream.next();
    expect(first).toMatchObject({ event: 'status', data: { id, status: 'queued' } });

    await stack.advance(id, [['planning', { progress: { stage: 'planning' } }]]);
    expect(await stream.next()).toMatchObject({ event: 'status', data: { status: 'planning' } });
    await stack.context.store.update(id, { progress: { stage: 'planning', step: 1, total: 3 } });
    expect(await stream.next()).toMatchObject({ event: 'progress', data: { progress: { step: 1 } } });
    await stack.advance(id, [['decoding'], ['succeeded']]);
    const rest: SseEvent<EventData>[] = [];
    for (let event = await stream.next(); event; event = await stream.next()) rest.push(event);
    expect(rest.map((event) => event.event)).toEqual(['status', 'generation.succeeded']);
    expect(rest.at(-1)?.data.status).toBe('succeeded');
  });

  it('resumes after a disconnect from Last-Event-ID without repeating or losing events', async () => {
    const id = await submit('resumed');
    const firstConnection = sseEvents<EventData>((await follow(id)).body!);
    const seen = await firstConnection.next();
    expect(seen?.data.status).toBe('queued');
    await firstConnection.cancel();

    // What happens while the client is away must arrive when it comes back.
    await stack.advance(id, [['planning'], ['decoding']]);
    const resumed = await follow(id, seen?.id);
    expect(resumed.status).toBe(200);
    const stream = sseEvents<EventData>(resumed.body!);
    const planning = await stream.next();
    expect(planning).toMatchObject({ event: 'status', data: { status: 'planning' } });
    expect(planning?.id).not.toBe(seen?.id);
    expect(await stream.next()).toMatchObject({ data: { status: 'decoding' } });
    await stack.advance(id, [['failed', { error: { code: 'model_error', message: 'x' } }]]);
    const terminal = await stream.next();
    expect(terminal).toMatchObject({ event: 'generation.failed', data: { status: 'failed' } });
    expect(await stream.next()).toBeNull();

    // Reconnecting after the end: nothing follows, 204 tells EventSource clients to stop.
    expect((await follow(id, terminal?.id)).status).toBe(204);
  });

  it('answers 404 for another tenant’s generation and 400 for a malformed Last-Event-ID', async () => {
    const id = await submit('private');
    const foreign = await fetch(`${origin}/v1/generations/${id}/events`, {
      headers: { authorization: `Bearer ${KEYS.globex}` },
    });
    expect(foreign.status).toBe(404);
    const malformed = await follow(id, 'not-an-id');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { code: string } }).error.code).toBe('invalid_input');
    // Digits that Redis cannot take as a stream id (past 64 bits) are malformed too, not a 500.
    for (const lastEventId of ['99999999999999999999-0', '1-18446744073709551616', '18446744073709551616']) {
      const tooLarge = await follow(id, lastEventId);
      expect(tooLarge.status, lastEventId).toBe(400);
      expect(await tooLarge.json()).toEqual({
        error: { code: 'invalid_input', message: 'Last-Event-ID: not an event id' },
      });
    }
    const largest = await follow(id, '18446744073709551615-18446744073709551615');
    expect(largest.status).toBe(200);
    await largest.body?.cancel();
  });
});
