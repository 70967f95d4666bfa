/**
 * Storing through an outage of a real S3 server (s3rver, stopped and started again on
 * its port), with the clock injected: how long the store has been away is the subject,
 * so no test waits for it. Each round's own retries are turned off to keep rounds short.
 */
import { createHash } from 'node:crypto';
import { ObjectStore } from '@glm-image/shared/storage';
import { objectStoreConfigFor, type S3ServerHandle, startS3Server } from '@glm-image/testing/s3-server';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { storeWhenReachable } from './store-when-reachable.ts';

let s3: S3ServerHandle;
let objects: ObjectStore;

beforeAll(async () => {
  s3 = await startS3Server();
  objects = new ObjectStore(
    objectStoreConfigFor(s3, { uploadRetry: { retries: 0, minDelayMs: 1, maxDelayMs: 1 } }),
  );
});
afterAll(async () => {
  await s3?.stop();
});
afterEach(async () => {
  await s3.restart();
});

/** A clock that moves only when the code under test pauses. */
function fakeTime() {
  let at = 0;
  const pauses: number[] = [];
  return {
    pauses,
    now: () => at,
    advance: (ms: number) => {
      at += ms;
    },
    pause: async (ms: number) => {
      pauses.push(ms);
      at += ms;
    },
  };
}

const image = Buffer.from('rendered bytes, rendered once');

it('keeps the image through an outage and stores it once the store is back', async () => {
  await s3.pause();
  const time = fakeTime();
  const unreachable: number[] = [];
  let puts = 0;
  const stored = await storeWhenReachable(
    async () => {
      puts += 1;
      if (puts === 4) await s3.restart();
      return objects.put('generations/acme/gen_1/0.png', image, 'image/png');
    },
    {
      giveUpAfterMs: 60_000,
      signal: new AbortController().signal,
      onUnreachable: (_error, forMs) => unreachable.push(forMs),
      now: time.now,
      pause: time.pause,
    },
  );

  expect(puts).toBe(4);
  expect(unreachable).toEqual([0, 1000, 2000]);
  expect(stored.sha256).toBe(createHash('sha256').update(image).digest('hex'));
  expect(await objects.getBuffer('generations/acme/gen_1/0.png')).toEqual(image);
});

it('fails as storage_unavailable once the store has been away for the whole bound', async () => {
  await s3.pause();
  const time = fakeTime();
  let puts = 0;
  const storing = storeWhenReachable(
    () => {
      puts += 1;
      return objects.put('generations/acme/gen_2/0.png', image, 'image/png');
    },
    { giveUpAfterMs: 2_500, signal: new AbortController().signal, now: time.now, pause: time.pause },
  );

  await expect(storing).rejects.toMatchObject({ code: 'storage_unavailable' });
  // Rounds at 0, 1000, 2000 and 2500 ms: the last pause is cut to the bound.
  expect(time.pauses).toEqual([1000, 1000, 500]);
  expect(puts).toBe(4);
});

it('passes on at once what another try cannot change', async () => {
  const elsewhere = new ObjectStore(objectStoreConfigFor(s3, { bucket: 'no-such-bucket' }));
  const time = fakeTime();
  let puts = 0;
  const storing = storeWhenReachable(
    () => {
      puts += 1;
      return elsewhere.put('generations/acme/gen_3/0.png', image, 'image/png');
    },
    { giveUpAfterMs: 60_000, signal: new AbortController().signal, now: time.now, pause: time.pause },
  );

  await expect(storing).rejects.not.toMatchObject({ code: 'storage_unavailable' });
  expect(puts).toBe(1);
});

it('stops waiting when the job is canceled', async () => {
  await s3.pause();
  const canceled = new AbortController();
  const time = fakeTime();
  const storing = storeWhenReachable(() => objects.put('generations/acme/gen_4/0.png', image, 'image/png'), {
    giveUpAfterMs: 60_000,
    signal: canceled.signal,
    now: time.now,
    pause: async (ms) => {
      await time.pause(ms);
      canceled.abort();
    },
  });

  await expect(storing).rejects.toMatchObject({ code: 'canceled' });
});
