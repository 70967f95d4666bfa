import { parseDecoderEnv } from '@glm-image/shared/env';
import { createQueue, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { queuedRecord } from '@glm-image/testing/records';
import { startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import type { Job, Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { consumeQueue, type StageWorker } from './queue-consumer.ts';
import { createWorkerRuntime, type WorkerRuntime } from './worker-runtime.ts';

/**
 * The queue consumer against a real Redis that goes away while jobs run: a job's own
 * writes wait for it to return, and a job whose lock was lost meanwhile (Redis away
 * longer than the lock lasts) is handed out again, maybe to the same process while the
 * first run is still going.
 */

let fixture: WorkerFixture;
let queue: Queue;
const running: Array<{ consumer: StageWorker; runtime: WorkerRuntime }> = [];
/** Gates a test left closed, opened before the consumers stop; from then on gates open at once. */
const gates: Array<() => void> = [];
let tearingDown = false;

beforeAll(async () => {
  fixture = await startWorkerFixture();
});
afterEach(async () => {
  tearingDown = true;
  for (const open of gates.splice(0)) open();
  for (const { consumer } of running.splice(0)) await consumer.stop();
  tearingDown = false;
  await queue?.obliterate({ force: true });
  await queue?.close();
});
afterAll(async () => {
  await fixture?.close();
});

async function start(
  processor: (job: Job, runtime: WorkerRuntime) => Promise<void>,
  extraEnv: Record<string, string> = {},
) {
  const env = parseDecoderEnv(await fixture.workerEnv('unused-pack', extraEnv));
  queue = createQueue('decode', fixture.redis, queueSettingsFromEnv(env));
  const runtime = await createWorkerRuntime('queue-consumer-test', env);
  const consumer = await consumeQueue(runtime, 'decode', (job) => processor(job, runtime));
  running.push({ consumer, runtime });
  return { env, runtime };
}

/** A promise with its resolve, so a test can hold a job until it lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  if (tearingDown) open();
  else gates.push(open);
  return { open, opened };
}

it('keeps the lock of a job handed back to the same process while its first run still goes', async () => {
  const runs: Array<ReturnType<typeof gate>> = [];
  const { env } = await start(
    async () => {
      const g = gate();
      runs.push(g);
      await g.opened;
    },
    { DECODER_CONCURRENCY: '2', LOCK_DURATION_MS: '1000', STALLED_INTERVAL_MS: '300' },
  );
  const job = await queue.add('decode', { generationId: 'g', tenant: 't' }, { jobId: 'g-decode' });
  await expect.poll(() => runs.length, { timeout: 120_000 }).toBe(1);

  // The lock is lost while the first run goes on (as when Redis was away past it): the
  // stalled-job check hands the job out again, and this process's free slot takes it.
  await fixture.redis.del(`${queue.toKey(job.id!)}:lock`);
  await expect.poll(async () => (await queue.getJob(job.id!))?.attemptsStarted, { timeout: 120_000 }).toBe(2);
  expect(await (await queue.getJob(job.id!))?.getState()).toBe('active');
  // The second run waits for the first to end: the first may have finished the work.
  expect(runs.length).toBe(1);

  // The first run ends; the second is held through several lock lifetimes and checks.
  runs[0]!.open();
  await expect.poll(() => runs.length, { timeout: 120_000 }).toBe(2);
  const heldUntil = Date.now() + 4 * env.LOCK_DURATION_MS;
  await expect.poll(() => Date.now() > heldUntil, { timeout: 120_000, interval: 200 }).toBe(true);
  runs[1]!.open();
  await expect.poll(() => queue.getCompletedCount(), { timeout: 120_000 }).toBe(1);

  const done = await queue.getJob(job.id!);
  // Handed out again once, for the lock that was lost; never for the second run's.
  expect(done?.stalledCounter).toBe(1);
  expect(runs.length).toBe(2);
});

it("waits out a Redis restart in the job's own writes instead of spending an attempt", async () => {
  const record = queuedRecord({ status: 'decoding', progress: { stage: 'decoding' } });
  await fixture.lifecycle.create(record, 0);
  const proceed = gate();
  let writing = false;
  let calls = 0;
  const { runtime } = await start(async (_job, runtime) => {
    calls += 1;
    await proceed.opened;
    writing = true;
    await runtime.lifecycle.update(record.id, { timings: { plan_ms: 42 } });
  });
  const job = await queue.add('decode', { generationId: record.id, tenant: 'acme' }, { attempts: 3 });
  await expect.poll(() => calls, { timeout: 120_000 }).toBe(1);
  let reconnects = 0;
  runtime.redis.on('reconnecting', () => {
    reconnects += 1;
  });

  await fixture.redisServer.kill();
  proceed.open();
  // Past the reconnects after which a producer's connection gives its commands up (3).
  await expect.poll(() => writing && reconnects > 4, { timeout: 120_000 }).toBe(true);
  await fixture.redisServer.restart();

  await expect
    .poll(async () => (await fixture.store.get(record.id))?.timings.plan_ms, { timeout: 120_000 })
    .toBe(42);
  await expect
    .poll(async () => (await queue.getJob(job.id!))?.finishedOn, { timeout: 120_000 })
    .toBeDefined();
  const done = await queue.getJob(job.id!);
  expect(await done?.getState()).toBe('completed');
  expect(done?.attemptsMade).toBe(1);
  expect(calls).toBe(1);
});
