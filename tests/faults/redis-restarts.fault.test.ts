/**
 * Redis restarts under load. Three times over: clients submit a steady stream of
 * generations and follow each one's events; Redis is killed (SIGKILL, as a crashed pod)
 * and stays away past BullMQ's blocking timeout; it comes back on the same port and
 * data directory with the append-only settings the deploy manifests ship. Holds:
 *
 * - while Redis is away, the API answers 503 in its error format (no hang, no 500);
 * - once Redis answers again, so does the API, by itself (how long it takes is printed);
 * - jobs that were waiting before the restart are processed with no submission after
 *   it: a worker idle after a reconnect (BullMQ #4479, #4585) would leave them waiting;
 * - every generation answered 202 ends `succeeded`, and its watcher saw that ending.
 *
 * REDIS_RESTARTS (default 3) and REDIS_OUTAGE_MS (default 8000) make it a longer soak.
 */
import { parseCommonEnv } from '@glm-image/shared/env';
import { createQueue, type QueueKind, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type E2eSystem, startSystem } from '../e2e/harness.ts';
import {
  type Answer,
  answerOf,
  isApiError,
  readWhenServed,
  startSubmissions,
} from './support/generation-load.ts';
import { shippedRedisPersistence } from './support/shipped-redis-persistence.ts';

const RESTARTS = Number(process.env.REDIS_RESTARTS ?? 3);
/**
 * How long each outage lasts at least: past a BullMQ worker's longest blocking fetch
 * (drainDelay, 5 s) and its watchdog (1 s more), the outage after which workers used to
 * stay idle (BullMQ #4585).
 */
const OUTAGE_MS = Number(process.env.REDIS_OUTAGE_MS ?? 8_000);
/** Small, quick generations: the load is their number, not their size. */
const GENERATION = { prompt: 'a lighthouse at dusk', width: 512, height: 512, steps: 6 };
/** Between two submissions of the stream. */
const SUBMIT_GAP_MS = 150;

let system: E2eSystem;

beforeAll(async () => {
  system = await startSystem({ planners: 1, decoders: 1 });
});

afterAll(async () => {
  await system?.stop();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Jobs of the stage queues that wait for a worker, read from Redis by the test itself. */
async function waitingJobs(redisUrl: string): Promise<number> {
  const connection = createRedis(redisUrl, { forWorker: true });
  const settings = queueSettingsFromEnv(parseCommonEnv({}));
  const kinds: QueueKind[] = ['plan', 'decode'];
  const queues = kinds.map((kind) => createQueue(kind, connection, settings));
  try {
    const counts = await Promise.all(queues.map((queue) => queue.getJobCounts('waiting', 'prioritized')));
    return counts.reduce((sum, count) => sum + (count.waiting ?? 0) + (count.prioritized ?? 0), 0);
  } finally {
    await Promise.all(queues.map((queue) => queue.close()));
    await closeRedis(connection);
  }
}

it('the test Redis persists the way the deploy manifests ship it', async () => {
  const shipped = shippedRedisPersistence();
  const redis = createRedis(system.redis.url);
  try {
    expect(await redis.config('GET', 'appendonly')).toEqual(['appendonly', shipped.appendonly]);
    expect(await redis.config('GET', 'appendfsync')).toEqual(['appendfsync', shipped.appendfsync]);
  } finally {
    await closeRedis(redis);
  }
});

it(`${RESTARTS} Redis restarts under load: 503 while away, back by itself, waiting jobs run, nothing accepted is lost`, async () => {
  const { client, redis } = system;
  const accepted: { id: string; ending: Promise<string> }[] = [];
  const refusedWhileUp: Answer[] = [];
  const recoveries: { apiMs: number; drainedMs: number; waitingAtKill: number }[] = [];

  for (let restart = 1; restart <= RESTARTS; restart += 1) {
    // Load until work queues up behind the workers.
    const stream = startSubmissions(client, GENERATION, SUBMIT_GAP_MS);
    let waitingAtKill = 0;
    while (stream.accepted.length < 4 || waitingAtKill < 2) {
      await pause(100);
      waitingAtKill = await waitingJobs(redis.url);
    }

    // Redis dies with submissions still arriving.
    await redis.kill('SIGKILL');
    const downSince = performance.now();
    const refusedBefore = stream.refused.length;
    while (stream.refused.length - refusedBefore < 3) await pause(50);
    await stream.stop();
    const whileDown = stream.refused.slice(refusedBefore);
    refusedWhileUp.push(...stream.refused.slice(0, refusedBefore));
    accepted.push(...stream.accepted);
    // Reads are refused the same way.
    const read = await answerOf(await client.request(`/v1/generations/${stream.accepted[0]!.id}`));
    for (const answer of [...whileDown, read]) {
      expect(answer.status, JSON.stringify(answer)).toBe(503);
      expect(isApiError(answer, 'service_unavailable'), JSON.stringify(answer)).toBe(true);
    }
    const heldFor = OUTAGE_MS - (performance.now() - downSince);
    if (heldFor > 0) await pause(heldFor);

    // Back on the same port and data: the API recovers without being touched.
    await redis.restart();
    const backAt = performance.now();
    const probe = stream.accepted.at(-1)!.id;
    for (;;) {
      const res = await client.request(`/v1/generations/${probe}`).catch(() => null);
      if (res?.ok) break;
      if (res) {
        const answer = await answerOf(res);
        expect(answer.status, JSON.stringify(answer)).toBe(503);
        expect(isApiError(answer, 'service_unavailable'), JSON.stringify(answer)).toBe(true);
      }
      await pause(20);
    }
    const apiMs = performance.now() - backAt;

    // No submission until everything accepted so far has ended: the jobs that were
    // waiting before the restart get a worker without a new job to wake one.
    const endings = await Promise.all(accepted.map((generation) => generation.ending));
    if (endings.some((status) => status !== 'succeeded')) {
      // Say how they ended: the record's error names the path that failed them.
      const records = await Promise.all(accepted.map((generation) => readWhenServed(client, generation.id)));
      const unsucceeded = records
        .filter((g) => g.status !== 'succeeded')
        .map((g) => [g.id, g.status, g.error]);
      // With the workers' log lines about them: which path ended them.
      const about = system.logs.filter((line) => unsucceeded.some(([id]) => line.includes(String(id))));
      expect(unsucceeded, `after restart ${restart}\n${about.join('\n')}`).toEqual([]);
    }
    recoveries.push({ apiMs, drainedMs: performance.now() - backAt, waitingAtKill });
  }

  // Every generation answered 202 ended succeeded, as the API reports it now too.
  const finals = await Promise.all(accepted.map((generation) => readWhenServed(client, generation.id)));
  expect(finals.filter((g) => g.status !== 'succeeded').map((g) => [g.id, g.status, g.error])).toEqual([]);
  expect(finals.every((g) => g.outputs.length === 1)).toBe(true);
  // While Redis was up nothing was refused.
  expect(refusedWhileUp).toEqual([]);

  for (const [i, r] of recoveries.entries()) {
    console.info(
      `redis restart ${i + 1}: ${r.waitingAtKill} jobs waiting at the kill; API answered 2xx ` +
        `${Math.round(r.apiMs)} ms after Redis answered PING; all accepted generations ended ` +
        `${Math.round(r.drainedMs)} ms after it`,
    );
  }
  console.info(`redis restarts: ${accepted.length} generations accepted, 0 lost`);
});
