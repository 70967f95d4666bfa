import type { AddressInfo } from 'node:net';
import type { GenerationPatch } from '@glm-image/shared/generation-store';
import { queuedRecord } from '@glm-image/testing/records';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../plugins/auth.ts';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';
import { type SseEvent, sseEvents } from '../testing/sse-events.ts';

/**
 * Many clients following running generations at once, over real HTTP against a real
 * redis-server: each gets every event, the API opens no Redis connection per client,
 * and an announcement lost while the API's subscription is down loses no event.
 */

const KEY = 'test-key-watchers-0123456789';
const WAIT_KEY = 'test-key-waiters-0123456789';

let stack: ApiStack;
let origin: string;
beforeAll(async () => {
  const unlimited = { rate_per_minute: 1_000_000, max_in_flight: 1_000_000 };
  stack = await startApiStack({
    env: {
      API_KEYS: JSON.stringify([
        { sha256: sha256Hex(KEY), tenant: 'acme', ...unlimited },
        { sha256: sha256Hex(WAIT_KEY), tenant: 'waiters', ...unlimited },
      ]),
    },
  });
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  origin = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await stack?.close();
});

interface EventData {
  id: string;
  status: string;
}

/** A client following a generation: collects every event until the server ends the stream. */
interface Watcher {
  events: SseEvent<EventData>[];
  /** Resolves once the server has ended the stream. */
  ended: Promise<void>;
  cancel(): Promise<void>;
}

async function follow(id: string, lastEventId?: string): Promise<Watcher> {
  const headers: Record<string, string> = { authorization: `Bearer ${KEY}` };
  if (lastEventId) headers['last-event-id'] = lastEventId;
  const res = await fetch(`${origin}/v1/generations/${id}/events`, { headers });
  expect(res.status).toBe(200);
  const stream = sseEvents<EventData>(res.body!);
  const events: SseEvent<EventData>[] = [];
  const ended = (async () => {
    for (let event = await stream.next(); event; event = await stream.next()) events.push(event);
  })();
  return { events, ended, cancel: () => stream.cancel() };
}

/** A generation of tenant acme that a worker has started. */
async function running(): Promise<string> {
  const record = queuedRecord();
  await stack.context.store.create(record);
  await stack.advance(record.id, [['planning']]);
  return record.id;
}

/** Every event id of the generation's stream, oldest first. */
async function streamIds(id: string): Promise<string[]> {
  return (await stack.context.store.readEvents(id, '0', { count: 1000 })).map((event) => event.id);
}

/** Connections the test's redis-server has accepted since it started. */
async function accepted(): Promise<number> {
  const stats = await stack.context.redis.info('stats');
  return Number(/total_connections_received:(\d+)/.exec(stats)?.[1]);
}

async function subscribers(id: string): Promise<number> {
  const channel = stack.context.store.keys.eventsChannel(id);
  return ((await stack.context.redis.pubsub('NUMSUB', channel)) as [string, number])[1];
}

/** Writes the rest of a run as a worker would: no two progress events in a row, so none collapse. */
async function finish(id: string): Promise<void> {
  const { store } = stack.context;
  const patches: GenerationPatch[] = [
    { progress: { stage: 'planning', step: 1, total: 2 } },
    { preview: { key: `previews/${id}.png`, width: 64, height: 64 } },
  ];
  for (const patch of patches) await store.update(id, patch);
  await stack.advance(id, [['decoding']]);
  await store.update(id, { progress: { stage: 'decoding', step: 1, total: 2 } });
  await stack.advance(id, [['succeeded']]);
}

async function expectEveryEvent(watchers: Map<string, Watcher[]>): Promise<void> {
  for (const [id, list] of watchers) {
    const ids = await streamIds(id);
    for (const watcher of list) {
      await watcher.ended;
      expect(watcher.events.map((event) => event.id)).toEqual(ids);
      expect(watcher.events.at(-1)?.event).toBe('generation.succeeded');
    }
  }
}

async function watchersOf(ids: string[], each: number): Promise<Map<string, Watcher[]>> {
  const entries = await Promise.all(
    ids.map(async (id) => [id, await Promise.all(Array.from({ length: each }, () => follow(id)))] as const),
  );
  return new Map(entries);
}

const all = (watchers: Map<string, Watcher[]>) => [...watchers.values()].flat();

describe('many clients following running generations', () => {
  it('serves 200 clients every event on the Redis connections it served 10 with', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, () => running()));
    const first = await watchersOf(ids, 1);
    await stack.context.store.update(ids[0]!, { metadata: { warm: true } });
    // Each has had what was there and what followed: the process is as warm as it gets.
    await expect.poll(() => all(first).every((w) => w.events.length >= 2)).toBe(true);
    await expect.poll(() => first.get(ids[0]!)![0]!.events.length).toBe(3);
    const before = await accepted();

    const more = await watchersOf(ids, 19);
    await expect.poll(() => all(more).every((w) => w.events.length >= 2)).toBe(true);
    expect(stack.app.eventHub.size).toEqual({ generations: 10, watchers: 200 });
    await Promise.all(ids.map((id) => finish(id)));

    const everyone = new Map(ids.map((id) => [id, [...first.get(id)!, ...more.get(id)!]]));
    await expectEveryEvent(everyone);
    expect(await accepted()).toBe(before);
    await expect.poll(() => stack.app.eventHub.size).toEqual({ generations: 0, watchers: 0 });
    await expect.poll(() => subscribers(ids[0]!)).toBe(0);
  });

  it('loses no event announced while its subscription is down', async () => {
    const { redis } = stack.context;
    const ids = await Promise.all([running(), running()]);
    const watchers = await watchersOf(ids, 10);
    await expect.poll(() => all(watchers).every((w) => w.events.length === 2)).toBe(true);
    for (const id of ids) await expect.poll(() => subscribers(id)).toBe(1);

    // Refuse new connections, then drop the hub's: it cannot subscribe again until allowed.
    const [, maxClients] = (await redis.config('GET', 'maxclients')) as [string, string];
    await redis.config('SET', 'maxclients', '1');
    try {
      const hub = (await redis.call('CLIENT', 'LIST')) as string;
      const hubId = /^id=(\d+) .*\bname=api:events\b/m.exec(hub)?.[1];
      expect(hubId).toBeDefined();
      await redis.call('CLIENT', 'KILL', 'ID', hubId!);
      for (const id of ids) expect(await subscribers(id)).toBe(0);
      // The rest of the run, the end included: no later event will wake the hub for these.
      for (const id of ids) {
        await stack.context.store.update(id, { metadata: { while: 'unsubscribed' } });
        await stack.advance(id, [['decoding'], ['succeeded']]);
      }
      // Announced to nobody: only the stream has these events.
      for (const id of ids) expect(await subscribers(id)).toBe(0);
    } finally {
      await redis.config('SET', 'maxclients', maxClients);
    }
    await expectEveryEvent(watchers);
    for (const watcher of all(watchers)) {
      expect(watcher.events.map((event) => event.event)).toEqual([
        'status',
        'status',
        'update',
        'status',
        'generation.succeeded',
      ]);
    }
  });

  it('resumes a client from Last-Event-ID among many, and ends a late one at once', async () => {
    const id = await running();
    const watchers = await watchersOf([id], 20);
    const leaving = await follow(id);
    await expect.poll(() => leaving.events.length).toBe(2);
    await leaving.cancel();
    await expect.poll(() => stack.app.eventHub.size.watchers).toBe(20);

    await stack.context.store.update(id, { metadata: { missed: true } });
    await stack.advance(id, [['decoding']]);
    const resumed = await follow(id, leaving.events.at(-1)!.id);
    await stack.advance(id, [['succeeded']]);
    await resumed.ended;
    const ids = await streamIds(id);
    expect([...leaving.events, ...resumed.events].map((event) => event.id)).toEqual(ids);
    await expectEveryEvent(watchers);

    // After the end: the whole story and the end at once, or 204 from the last id.
    const late = await follow(id);
    await late.ended;
    expect(late.events.map((event) => event.id)).toEqual(ids);
    const after = await fetch(`${origin}/v1/generations/${id}/events`, {
      headers: { authorization: `Bearer ${KEY}`, 'last-event-id': ids.at(-1)! },
    });
    expect(after.status).toBe(204);
    await expect.poll(() => stack.app.eventHub.size).toEqual({ generations: 0, watchers: 0 });
  });

  it('holds many Prefer: wait submits on the same Redis connections, and answers each with its end', async () => {
    const submit = (prompt: string, prefer?: string) =>
      fetch(`${origin}/v1/generations`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${WAIT_KEY}`,
          'content-type': 'application/json',
          ...(prefer ? { prefer } : {}),
        },
        body: JSON.stringify({ prompt }),
      });
    expect((await submit('warm-up')).status).toBe(202); // the submit path's own first use
    const before = await accepted();

    const count = 30;
    const pending = Array.from({ length: count }, (_, i) => submit(`waiting ${i}`, 'wait=120'));
    let waiting: string[] = [];
    await expect
      .poll(async () => {
        const { items } = await stack.context.store.listByTenant('waiters', { limit: 100 });
        waiting = items.filter((item) => item.input.prompt.startsWith('waiting')).map((item) => item.id);
        return waiting.length;
      })
      .toBe(count);
    await expect.poll(() => stack.app.eventHub.size.watchers).toBe(count);
    for (const id of waiting) {
      await stack.context.planQueue.remove(id); // the test plays the workers
      await stack.advance(id, [['planning'], ['decoding'], ['succeeded']]);
    }
    for (const res of await Promise.all(pending)) {
      expect(res.status).toBe(200);
      expect(((await res.json()) as EventData).status).toBe('succeeded');
    }
    expect(await accepted()).toBe(before);
    expect(stack.app.eventHub.size).toEqual({ generations: 0, watchers: 0 });
  });

  it('loses no event across a restart of Redis', async () => {
    const ids = await Promise.all([running(), running()]);
    const watchers = await watchersOf(ids, 10);
    await expect.poll(() => all(watchers).every((w) => w.events.length === 2)).toBe(true);

    await stack.redis.restart();
    // The API's connection finds its way back on its own.
    await expect
      .poll(() => stack.context.redis.ping().catch(() => 'down'), { timeout: 120_000 })
      .toBe('PONG');
    await Promise.all(ids.map((id) => finish(id)));
    await expectEveryEvent(watchers);
  });
});

describe('closing the API', () => {
  it('ends every open stream and lets go of every watch', async () => {
    const own = await startApiStack();
    try {
      const address = await own.app.listen({ host: '127.0.0.1', port: 0 });
      const record = queuedRecord();
      await own.context.store.create(record);
      const streams = await Promise.all(
        Array.from({ length: 5 }, async () => {
          const res = await fetch(`${address}/v1/generations/${record.id}/events`, {
            headers: own.auth('acme'),
          });
          return sseEvents<EventData>(res.body!);
        }),
      );
      for (const stream of streams) expect((await stream.next())?.data.status).toBe('queued');
      await expect.poll(() => own.app.eventHub.size.watchers).toBe(5);
      await own.app.close();
      for (const stream of streams) expect(await stream.next()).toBeNull();
      expect(own.app.eventHub.size).toEqual({ generations: 0, watchers: 0 });
    } finally {
      await own.close();
    }
  });
});
