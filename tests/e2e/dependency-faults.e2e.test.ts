/**
 * Dependencies failing under a running generation. Redis restarts (SIGKILL, then the
 * same port and data directory, as a restarted pod with a persistent volume would): with
 * the append-only file synced on every write nothing is lost, and every process
 * reconnects. The object store goes away for a while: the rendered image waits for it,
 * and the generation still ends in a state the client can see (the fault suite's
 * tests/faults/object-store-outages.fault.test.ts holds outages longer than every retry).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type E2eSystem, startSystem } from './harness.ts';

let system: E2eSystem;

beforeAll(async () => {
  system = await startSystem();
});

afterAll(async () => {
  await system?.stop();
});

it('a generation survives a Redis restart in the middle of decoding', async () => {
  const { client, redis } = system;
  const submitted = await client.submit({
    prompt: 'a red circle on a white background',
    width: 2048,
    height: 2048,
    steps: 80,
    seed: 21,
  });
  await client.waitFor(submitted.id, (g) => g.status === 'decoding' && (g.progress.step ?? 0) >= 1, 120_000);
  await redis.restart();

  const final = await client.waitFor(submitted.id, undefined, 240_000);
  expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
  expect(final.outputs).toHaveLength(1);

  // And the system keeps serving afterwards.
  const next = await client.submit({ prompt: 'a blue square', width: 512, height: 512, steps: 2 });
  expect((await client.waitFor(next.id, undefined, 60_000)).status).toBe('succeeded');
});

it('a generation survives an object-store outage during decoding', async () => {
  const { client, s3 } = system;
  const submitted = await client.submit({
    prompt: 'a green circle',
    width: 1024,
    height: 1024,
    steps: 60,
    seed: 22,
  });
  await client.waitFor(submitted.id, (g) => g.status === 'decoding' && (g.progress.step ?? 0) >= 1, 120_000);
  await s3.pause();
  await new Promise((resolve) => setTimeout(resolve, 3000));
  await s3.restart();

  const final = await client.waitFor(submitted.id, undefined, 240_000);
  expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
  const image = await client.download(final.outputs[0]!.url);
  expect(image.byteLength).toBe(final.outputs[0]!.bytes);
});
