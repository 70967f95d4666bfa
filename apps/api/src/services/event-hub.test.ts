import type { GenerationEvent } from '@glm-image/shared/generation-store';
import { GenerationStore } from '@glm-image/shared/generation-store';
import { closeRedis, createRedis, type RedisClient } from '@glm-image/shared/redis';
import { queuedRecord } from '@glm-image/testing/records';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventHub, type EventWatch, MAX_BUFFERED_EVENTS } from './event-hub.ts';

/** The event hub on its own against a real redis-server: buffering, collapsing, letting go. */

let server: RedisServerHandle;
let redis: RedisClient;
let store: GenerationStore;
let hub: EventHub;
const quiet = { warn() {}, info() {}, debug() {} };
const newHub = (sweepMs?: number) =>
  new EventHub({
    store,
    subscriber: createRedis(server.url, { forWorker: true }),
    log: quiet,
    ...(sweepMs === undefined ? {} : { sweepMs }),
  });

beforeAll(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url);
  store = new GenerationStore(redis);
  hub = newHub();
});
afterAll(async () => {
  await hub?.close();
  if (redis) await closeRedis(redis);
  await server?.stop();
});

async function running(): Promise<{ id: string; first: string }> {
  const record = queuedRecord();
  await store.create(record);
  await store.transition(record.id, 'decoding');
  const events = await store.readEvents(record.id);
  return { id: record.id, first: events.at(-1)!.id };
}

/** Takes events from a watch until `until` holds for one; returns all taken. */
async function takeUntil(
  watch: EventWatch,
  until: (event: GenerationEvent) => boolean,
): Promise<GenerationEvent[]> {
  const taken: GenerationEvent[] = [];
  for (let events = await watch.next(); events; events = await watch.next()) {
    taken.push(...events);
    if (events.some(until)) return taken;
  }
  throw new Error('the watch ended first');
}

const subscribers = async (channel: string) =>
  ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1];

describe('EventHub', () => {
  it('holds a bounded backlog for a watcher that does not keep up, then catches it up from the stream', async () => {
    const { id, first } = await running();
    const slow = hub.watch(id, first);
    const fast = hub.watch(id, first);
    const written = 3 * MAX_BUFFERED_EVENTS;
    const fastSeen = takeUntil(fast, (event) => event.data.metadata?.['n'] === written);
    for (let n = 1; n <= written; n++) await store.update(id, { metadata: { n } });

    // The fast watcher is not held back by the slow one.
    expect((await fastSeen).map((event) => event.data.metadata?.['n'])).toEqual(
      Array.from({ length: written }, (_, i) => i + 1),
    );
    await expect.poll(() => slow.buffered).toBe(MAX_BUFFERED_EVENTS);
    await store.transition(id, 'succeeded');

    const slowSeen = await takeUntil(slow, (event) => event.data.status === 'succeeded');
    const stream = await store.readEvents(id, first, { count: 1000 });
    expect(slowSeen.map((event) => event.id)).toEqual(stream.map((event) => event.id));
    slow.close();
    fast.close();
  });

  it('keeps only the latest of a run of progress events for a watcher that is not reading', async () => {
    const { id, first } = await running();
    const watch = hub.watch(id, first);
    for (let step = 1; step <= 40; step++) {
      await store.update(id, { progress: { stage: 'decoding', step, total: 40 } });
    }
    await store.update(id, { metadata: { after: 'progress' } });
    await expect.poll(() => watch.buffered).toBe(2);
    const events = await watch.next();
    expect(events?.map((event) => event.type)).toEqual(['progress', 'update']);
    expect(events?.[0]?.data.progress.step).toBe(40);
    watch.close();
  });

  it('lets go of a generation, and of its subscription, once its last watcher leaves', async () => {
    const { id, first } = await running();
    const channel = store.keys.eventsChannel(id);
    const watches = [hub.watch(id, first), hub.watch(id, first), hub.watch(id, first)];
    await expect.poll(() => subscribers(channel)).toBe(1);
    const pending = watches[0]!.next();
    watches[0]!.close();
    expect(await pending).toBeNull();
    expect(hub.size.watchers).toBe(2);
    watches[1]!.close();
    watches[2]!.close();
    watches[2]!.close();
    expect(hub.size).toEqual({ generations: 0, watchers: 0 });
    await expect.poll(() => subscribers(channel)).toBe(0);
  });

  it('ends every watch when it closes', async () => {
    const own = newHub();
    const { id, first } = await running();
    const watch = own.watch(id, first);
    const pending = watch.next();
    await own.close();
    expect(await pending).toBeNull();
    expect(await own.watch(id, first).next()).toBeNull();
    expect(own.size).toEqual({ generations: 0, watchers: 0 });
  });

  it('finds, on its sweep, an event whose announcement never came', async () => {
    const own = newHub(20);
    const { id, first } = await running();
    const watch = own.watch(id, first);
    // Caught up on what was announced first, so only the sweep can find what follows.
    await store.update(id, { metadata: { announced: true } });
    expect((await watch.next())?.map((event) => event.type)).toEqual(['update']);
    const record = await store.get(id);
    // Appended the way the scripts append, but announced to no one.
    const entry = await redis.xadd(
      store.keys.events(id),
      '*',
      'type',
      'update',
      'data',
      JSON.stringify({ ...record, metadata: { announced: false } }),
    );
    const events = await watch.next();
    expect(events?.map((event) => event.id)).toEqual([entry]);
    expect(events?.[0]?.data.metadata).toEqual({ announced: false });
    await own.close();
  });
});
