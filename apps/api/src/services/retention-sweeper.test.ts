import { RedisKeys } from '@glm-image/shared/keys';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { ObjectStore, outputKey, referenceKey } from '@glm-image/shared/storage';
import { type RedisServerHandle, startRedisServer } from '@glm-image/testing/redis-server';
import { objectStoreConfigFor, type S3ServerHandle, startS3Server } from '@glm-image/testing/s3-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRetentionSweeper } from './retention-sweeper.ts';

let redisServer: RedisServerHandle;
let s3: S3ServerHandle;
let objects: ObjectStore;
let redis: ReturnType<typeof createRedis>;

beforeAll(async () => {
  [redisServer, s3] = await Promise.all([startRedisServer(), startS3Server()]);
  redis = createRedis(redisServer.url);
  objects = new ObjectStore(objectStoreConfigFor(s3));
});

afterAll(async () => {
  objects?.close();
  if (redis) await closeRedis(redis);
  await Promise.all([redisServer?.stop(), s3?.stop()]);
});

describe('retention sweeper', () => {
  it('deletes objects older than the retention and keeps newer ones and other prefixes', async () => {
    const old = outputKey('acme', 'gen_old', 0, 'png');
    await objects.put(old, Buffer.from('old'), 'image/png');
    // A reference image a request brought is kept with its generation, and expires with it.
    const oldReference = referenceKey('acme', 'gen_old', 0, 'jpeg');
    await objects.put(oldReference, Buffer.from('old reference'), 'image/jpeg');
    await objects.put('elsewhere/keep.txt', Buffer.from('x'), 'text/plain');
    // S3 times have 1 s resolution (floored): the old object must be well past the
    // retention, the fresh one well within it, however long the machine takes between steps.
    await new Promise((resolve) => setTimeout(resolve, 3100));
    // The sweep's clock is read before the fresh object exists, so the fresh object can
    // never look older than the retention to it.
    const sweepAt = new Date();
    const fresh = outputKey('acme', 'gen_new', 0, 'png');
    await objects.put(fresh, Buffer.from('new'), 'image/png');

    const sweeper = startRetentionSweeper({
      redis,
      objects,
      keys: new RedisKeys('{t1}:'),
      retentionSeconds: 2,
      intervalMs: 60_000,
    });
    try {
      expect(await sweeper.sweepOnce(sweepAt)).toBe(2);
      await expect(objects.getBuffer(old)).rejects.toMatchObject({ code: 'not_found' });
      await expect(objects.getBuffer(oldReference)).rejects.toMatchObject({ code: 'not_found' });
      expect((await objects.getBuffer(fresh)).toString()).toBe('new');
      expect((await objects.getBuffer('elsewhere/keep.txt')).toString()).toBe('x');
    } finally {
      sweeper.stop();
    }
  });

  it('lets one process sweep per interval', async () => {
    const a = startRetentionSweeper({
      redis,
      objects,
      keys: new RedisKeys('{t2}:'),
      retentionSeconds: 3600,
      intervalMs: 60_000,
    });
    const b = startRetentionSweeper({
      redis,
      objects,
      keys: new RedisKeys('{t2}:'),
      retentionSeconds: 3600,
      intervalMs: 60_000,
    });
    try {
      expect(await a.sweepOnce()).toBe(0);
      expect(await b.sweepOnce()).toBeNull();
    } finally {
      a.stop();
      b.stop();
    }
  });
});
