/**
 * Server-Sent Events against the real system: a client follows a generation while the
 * planner and decoder processes move it, sees every stage in order, and after losing the
 * connection resumes with Last-Event-ID without missing or repeating an event.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SseEvent, sseEvents } from '../../apps/api/src/testing/sse-events.ts';
import { type E2eSystem, startSystem } from './harness.ts';

let system: E2eSystem;

beforeAll(async () => {
  system = await startSystem();
});
afterAll(async () => {
  await system?.stop();
});

interface EventData {
  id: string;
  status: string;
  preview?: unknown;
  outputs: unknown[];
}

/** An open event stream, read one event at a time; `close` drops the connection. */
async function follow(id: string, lastEventId?: string) {
  const aborted = new AbortController();
  const res = await system.client.request(`/v1/generations/${id}/events`, {
    signal: aborted.signal,
    headers: lastEventId === undefined ? {} : { 'last-event-id': lastEventId },
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const events = sseEvents<EventData>(res.body!);
  return {
    ...events,
    close(): void {
      aborted.abort();
    },
  };
}

/** Redis stream ids, `<ms>-<seq>`: later events have larger ids. */
function isAfter(id: string, than: string): boolean {
  const [ms, seq] = id.split('-').map(BigInt) as [bigint, bigint];
  const [thanMs, thanSeq] = than.split('-').map(BigInt) as [bigint, bigint];
  return ms > thanMs || (ms === thanMs && seq > thanSeq);
}

/** Status names in the order the stream told them; the terminal event counts as its status. */
function statuses(events: SseEvent<EventData>[]): string[] {
  return events
    .filter((e) => e.event === 'status' || e.event.startsWith('generation.'))
    .map((e) => e.data.status);
}

function submit(prompt: string) {
  return system.client.submit({ prompt, width: 512, height: 512, steps: 8 });
}

describe('following a generation as Server-Sent Events', () => {
  it('tells every stage in order, the preview before the end, then ends the stream', async () => {
    const { id } = await submit('a red square on a white background');
    const stream = await follow(id);
    const events = await stream.rest();

    expect(statuses(events)).toEqual(['queued', 'planning', 'decoding', 'succeeded']);
    const names = events.map((e) => e.event);
    const terminal = names.indexOf('generation.succeeded');
    expect(terminal).toBe(names.length - 1);
    expect(names.indexOf('preview')).toBeGreaterThan(names.indexOf('status'));
    expect(names.indexOf('preview')).toBeLessThan(terminal);
    for (let i = 1; i < events.length; i += 1) expect(isAfter(events[i]!.id, events[i - 1]!.id)).toBe(true);
    expect(events.every((e) => e.data.id === id)).toBe(true);
    expect(events[terminal]!.data.outputs).toHaveLength(1);

    // Once it has ended, asking for what follows the last event answers 204: nothing will.
    const after = await system.client.request(`/v1/generations/${id}/events`, {
      headers: { 'last-event-id': events[terminal]!.id },
    });
    expect(after.status).toBe(204);
  });

  it('resumes after a dropped connection with Last-Event-ID, with only the events that followed', async () => {
    const { id } = await submit('a yellow circle');
    const first = await follow(id);
    const seen: SseEvent<EventData>[] = [];
    for (let event = await first.next(); event; event = await first.next()) {
      seen.push(event);
      if (event.event === 'status' && event.data.status === 'planning') break;
    }
    first.close();
    const lastSeen = seen.at(-1)!;
    expect(statuses(seen)).toEqual(['queued', 'planning']);

    const resumed = await (await follow(id, lastSeen.id)).rest();
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed.every((e) => isAfter(e.id, lastSeen.id))).toBe(true);
    expect(statuses(resumed)).toEqual(['decoding', 'succeeded']);
    expect(resumed.map((e) => e.event)).toContain('preview');
    expect(resumed.at(-1)!.event).toBe('generation.succeeded');
  });
});
