import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GenerationExistsError, InvalidInputError, TenantAtCapacityError } from './errors.ts';
import type { GenerationRecord } from './generation.ts';
import { GenerationStore } from './generation-store.ts';
import { closeRedis, createRedis, type RedisClient } from './redis.ts';

let server: RedisServerHandle;
let redis: RedisClient;
let store: GenerationStore;
let counter = 0;

function record(overrides: Partial<GenerationRecord> = {}): GenerationRecord {
  counter += 1;
  return {
    id: `gen${String(counter).padStart(4, '0')}`,
    tenant: 'acme',
    status: 'queued',
    created_at: new Date().toISOString(),
    input: {
      prompt: 'a red "SALE" sign',
      width: 256,
      height: 256,
      seed: 4294967295,
      steps: 4,
      guidance_scale: 1.5,
      temperature: 0.9,
      top_p: 0.95,
      n: 1,
      output_format: 'png',
    },
    progress: { stage: 'queued' },
    outputs: [],
    timings: {},
    ...overrides,
  };
}

beforeAll(async () => {
  server = await startRedisServer();
  redis = createRedis(server.url);
});
afterAll(async () => {
  await closeRedis(redis);
  await server.stop();
});
beforeEach(async () => {
  await redis.flushall();
  store = new GenerationStore(redis, { keyPrefix: '{glm}:', retentionSeconds: 3600 });
});

describe('GenerationStore', () => {
  it('stores a record and reads it back unchanged, empty arrays included', async () => {
    const rec = record();
    await store.create(rec);
    expect(await store.get(rec.id)).toEqual(rec);
    expect(await store.get('missing')).toBeNull();
  });

  it('refuses to create an id twice', async () => {
    const rec = record();
    await store.create(rec);
    await expect(store.create(rec)).rejects.toBeInstanceOf(GenerationExistsError);
  });

  it('moves status forward only and stamps started_at, completed_at and total_ms', async () => {
    const created = new Date(Date.now() - 5000).toISOString();
    const rec = record({ created_at: created });
    await store.create(rec);

    const planning = await store.transition(rec.id, 'planning', { progress: { stage: 'planning' } });
    expect(planning?.status).toBe('planning');
    expect(planning?.started_at).toBeDefined();
    expect(planning?.timings.queued_ms).toBeGreaterThanOrEqual(5000);
    expect(await store.transition(rec.id, 'planning')).toBeNull();
    expect(await store.transition(rec.id, 'queued')).toBeNull();

    const decoding = await store.transition(rec.id, 'decoding', { timings: { plan_ms: 12 } });
    expect(decoding?.started_at).toBe(planning?.started_at);
    const done = await store.transition(rec.id, 'succeeded', {
      timings: { decode_ms: 34 },
      outputs: [{ key: 'k', width: 256, height: 256, format: 'png', bytes: 10, sha256: 'ab' }],
    });
    expect(done?.status).toBe('succeeded');
    expect(done?.timings).toMatchObject({ plan_ms: 12, decode_ms: 34 });
    const total = Date.parse(done!.completed_at!) - Date.parse(created);
    expect(done?.timings.total_ms).toBe(total);
    expect(await store.transition(rec.id, 'failed')).toBeNull();
    expect(await store.transition(rec.id, 'canceled')).toBeNull();
    expect((await store.get(rec.id))?.status).toBe('succeeded');
  });

  it('lets exactly one of many racing transitions win', async () => {
    const rec = record();
    await store.create(rec);
    const racers = Array.from({ length: 4 }, () => createRedis(server.url));
    try {
      const stores = racers.map((connection) => new GenerationStore(connection, { keyPrefix: '{glm}:' }));
      const targets = ['succeeded', 'failed', 'canceled', 'succeeded'] as const;
      const results = await Promise.all(
        stores.map((s, i) => s.transition(rec.id, targets[i]!, { error: { code: `by${i}`, message: 'x' } })),
      );
      const winners = results.filter((result) => result !== null);
      expect(winners).toHaveLength(1);
      expect(await store.get(rec.id)).toEqual(winners[0]);
      const statusEvents = (await store.readEvents(rec.id)).filter((e) => e.type === 'status');
      expect(statusEvents).toHaveLength(2); // created + the one winner
    } finally {
      await Promise.all(racers.map(closeRedis));
    }
  });

  it('updates non-status fields until the record is terminal, never its identity', async () => {
    const rec = record();
    await store.create(rec);
    const patched = await store.update(rec.id, {
      progress: { stage: 'planning', step: 3, total: 10 },
      // Protected fields in a patch are ignored.
      ...({ status: 'succeeded', tenant: 'evil' } as object),
    });
    expect(patched?.progress).toEqual({ stage: 'planning', step: 3, total: 10 });
    expect(patched?.status).toBe('queued');
    expect(patched?.tenant).toBe('acme');
    await store.transition(rec.id, 'failed', { error: { code: 'model_error', message: 'boom' } });
    expect(await store.update(rec.id, { progress: { stage: 'decoding' } })).toBeNull();
    expect((await store.get(rec.id))?.progress.stage).toBe('planning');
  });

  it('sets the retention TTL on the record, its events and the tenant index, and keeps it', async () => {
    const rec = record();
    await store.create(rec);
    await store.transition(rec.id, 'planning');
    for (const key of [
      store.keys.record(rec.id),
      store.keys.events(rec.id),
      store.keys.tenantIndex('acme'),
    ]) {
      const ttl = await redis.ttl(key);
      expect(ttl).toBeGreaterThan(3500);
      expect(ttl).toBeLessThanOrEqual(3600);
    }
  });

  it('lists a tenant newest first across pages, ties included, and drops expired ids', async () => {
    const base = Date.parse('2030-01-01T00:00:00.000Z');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      // Pairs share a created time, to exercise ordering within one millisecond.
      const rec = record({ created_at: new Date(base + Math.floor(i / 2) * 1000).toISOString() });
      ids.push(rec.id);
      await store.create(rec);
    }
    await store.create(record({ tenant: 'other' }));
    await redis.del(store.keys.record(ids[3]!)); // as if it had expired

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await store.listByTenant('acme', { limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== null && pages < 10);

    const expected = ids.filter((id) => id !== ids[3]).reverse();
    expect(seen).toEqual(expected);
    expect(pages).toBe(3);
    expect(await redis.zscore(store.keys.tenantIndex('acme'), ids[3]!)).toBeNull();
    await expect(store.listByTenant('acme', { limit: 2, cursor: 'garbage' })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
  });

  it('appends events in order and reads them after a given id', async () => {
    const rec = record();
    await store.create(rec);
    await store.transition(rec.id, 'planning');
    await store.update(rec.id, { progress: { stage: 'planning', step: 1, total: 2 } });
    await store.update(rec.id, { preview: { key: 'p.png', width: 64, height: 64 } });
    await store.transition(rec.id, 'decoding');

    const events = await store.readEvents(rec.id);
    expect(events.map((e) => e.type)).toEqual(['status', 'status', 'progress', 'preview', 'status']);
    expect(events.map((e) => e.data.status)).toEqual([
      'queued',
      'planning',
      'planning',
      'planning',
      'decoding',
    ]);
    const after = await store.readEvents(rec.id, events[2]!.id);
    expect(after.map((e) => e.id)).toEqual([events[3]!.id, events[4]!.id]);
    expect(await store.readEvents(rec.id, events[4]!.id)).toEqual([]);
    await expect(store.readEvents(rec.id, 'not-an-id')).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("announces each appended event's id on the generation's channel", async () => {
    const rec = record();
    const subscriber = redis.duplicate();
    const announced: string[] = [];
    subscriber.on('message', (channel: string, entryId: string) => {
      if (channel === store.keys.eventsChannel(rec.id)) announced.push(entryId);
    });
    try {
      await subscriber.subscribe(store.keys.eventsChannel(rec.id));
      await store.create(rec);
      await store.transition(rec.id, 'planning');
      await store.update(rec.id, { progress: { stage: 'planning', step: 1, total: 2 } });
      await store.requestCancel(rec.id);
      await store.transition(rec.id, 'canceled');
      const ids = (await store.readEvents(rec.id)).map((e) => e.id);
      expect(ids).toHaveLength(5);
      await expect.poll(() => announced).toEqual(ids);
      expect(await store.lastEventId(rec.id)).toBe(ids.at(-1));
      expect(await store.lastEventId('missing')).toBeNull();
    } finally {
      await closeRedis(subscriber);
    }
  });

  it('cancels a queued generation at once', async () => {
    const rec = record();
    await store.create(rec);
    const result = await store.requestCancel(rec.id);
    expect(result?.outcome).toBe('canceled');
    const canceled = result?.record;
    expect(canceled?.status).toBe('canceled');
    expect(canceled?.completed_at).toBeDefined();
    expect(canceled?.started_at).toBeUndefined();
    // The worker that picks the job up afterwards is refused.
    expect(await store.transition(rec.id, 'planning')).toBeNull();
    expect(await store.requestCancel('missing')).toBeNull();
  });

  it('asks a running generation to stop, and leaves a finished one alone', async () => {
    const rec = record();
    await store.create(rec);
    await store.transition(rec.id, 'decoding');
    const result = await store.requestCancel(rec.id);
    expect(result?.outcome).toBe('requested');
    const requested = result?.record;
    expect(requested?.status).toBe('decoding');
    expect(requested?.cancel_requested).toBe(true);
    const types = (await store.readEvents(rec.id)).map((e) => e.type);
    expect(types.at(-1)).toBe('cancel_requested');

    const canceled = await store.transition(rec.id, 'canceled');
    expect(canceled?.status).toBe('canceled');
    const again = await store.requestCancel(rec.id);
    expect(again).toEqual({ outcome: 'unchanged', record: canceled });
    expect((await store.readEvents(rec.id)).length).toBe(types.length + 1);
  });

  it("counts a tenant's unfinished generations in the same scripts that move them", async () => {
    const tenant = `count-${Date.now()}`;
    const recs = [record({ tenant }), record({ tenant }), record({ tenant })];
    for (const rec of recs) await store.create(rec, 3);
    expect(await store.unfinishedCount(tenant)).toBe(3);
    // Full: the fourth is refused before anything is written.
    const fourth = record({ tenant });
    await expect(store.create(fourth, 3)).rejects.toBeInstanceOf(TenantAtCapacityError);
    expect(await store.get(fourth.id)).toBeNull();

    await store.transition(recs[0]!.id, 'planning');
    expect(await store.unfinishedCount(tenant)).toBe(3);
    await store.transition(recs[0]!.id, 'succeeded');
    await store.transition(recs[1]!.id, 'failed', { error: { code: 'model_error', message: 'x' } });
    await store.requestCancel(recs[2]!.id);
    expect(await store.unfinishedCount(tenant)).toBe(0);
    // A second ending changes nothing, and a refused one does not count twice.
    await store.transition(recs[0]!.id, 'failed');
    expect(await store.unfinishedCount(tenant)).toBe(0);
    await store.create(fourth, 3);
    expect(await store.unfinishedCount(tenant)).toBe(1);
  });

  it('drops from the count an id older than the retention, whose record can never end', async () => {
    const tenant = `stale-${Date.now()}`;
    // Created (by its own clock) longer ago than the retention: its record has expired in
    // a real deployment, so nothing will ever end it.
    const stale = record({ tenant, created_at: new Date(Date.now() - 2 * 3_600_000).toISOString() });
    await store.create(stale, 0);
    expect(await store.unfinishedCount(tenant)).toBe(1);
    await store.create(record({ tenant }), 1); // the stale entry goes before the cap is checked
    expect(await store.unfinishedCount(tenant)).toBe(1);
  });

  it('indexes a generation as awaiting its first job until it is confirmed, moves on or ends', async () => {
    const created = Date.parse('2031-01-01T00:00:00.000Z');
    const at = (ms: number) => new Date(created + ms).toISOString();
    const [a, b, c, d] = [
      record({ created_at: at(0) }),
      record({ created_at: at(1) }),
      record({ created_at: at(2) }),
      record({ created_at: at(3) }),
    ];
    for (const rec of [a, b, c, d]) await store.create(rec!);
    const awaiting = () => store.awaitingEnqueue(created + 10, 100);
    expect(await awaiting()).toEqual(expect.arrayContaining([a!.id, b!.id, c!.id, d!.id]));
    expect(await store.awaitingEnqueue(created + 1, 100)).not.toContain(c!.id);
    await store.confirmEnqueued(a!.id);
    await store.transition(b!.id, 'planning');
    await store.requestCancel(c!.id);
    const left = await awaiting();
    expect(left).toContain(d!.id);
    expect(left).not.toEqual(expect.arrayContaining([a!.id]));
    for (const id of [a!.id, b!.id, c!.id]) expect(left).not.toContain(id);
  });
});
