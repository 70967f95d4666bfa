import { parsePlannerEnv } from '@glm-image/shared/env';
import {
  createQueue,
  planJobDataSchema,
  queueSettingsFromEnv,
  workerProcessName,
} from '@glm-image/shared/queues';
import { closeRedis, createRedis } from '@glm-image/shared/redis';
import { queuedRecord } from '@glm-image/testing/records';
import { startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import { type Job, type Queue, Worker } from 'bullmq';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { consumeQueueInBatches } from './batch-consumer.ts';
import { runGenerationJob } from './generation-job.ts';
import { MAX_STALLED_COUNT, type StageWorker } from './queue-consumer.ts';
import { createWorkerRuntime, type WorkerRuntime } from './worker-runtime.ts';

/**
 * The manual-fetch consumer against a real Redis: it holds at most its batch of jobs,
 * fetches the next one when a slot frees, renews locks, runs the stalled-job check
 * itself, moves jobs on as BullMQ would, and shuts down handing jobs back unspent.
 */

let fixture: WorkerFixture;
let queue: Queue;
const running: Array<{ consumer: StageWorker; runtime: WorkerRuntime }> = [];

beforeAll(async () => {
  fixture = await startWorkerFixture();
});
afterEach(async () => {
  for (const { consumer } of running.splice(0)) await consumer.stop();
  await queue?.obliterate({ force: true });
  await queue?.close();
});
afterAll(async () => {
  await fixture?.close();
});

async function start(
  maxJobs: number,
  processor: (job: Job, token: string, runtime: WorkerRuntime) => Promise<void>,
  extraEnv: Record<string, string> = {},
) {
  const env = parsePlannerEnv(await fixture.workerEnv('unused-pack', extraEnv));
  queue = createQueue('plan', fixture.redis, queueSettingsFromEnv(env));
  const runtime = await createWorkerRuntime('batch-consumer-test', env);
  const consumer = await consumeQueueInBatches(runtime, 'plan', maxJobs, (job, token) =>
    processor(job, token, runtime),
  );
  running.push({ consumer, runtime });
  return { consumer, runtime, env };
}

/** A promise with its resolve, so a test can hold a job until it lets it go. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

it('holds at most its batch of jobs and takes the next one as soon as a slot frees', async () => {
  const gates = new Map<string, ReturnType<typeof gate>>();
  const started: string[] = [];
  await start(3, async (job) => {
    started.push(job.id!);
    const g = gate();
    gates.set(job.id!, g);
    await g.opened;
  });
  for (let i = 1; i <= 5; i++)
    await queue.add('plan', { generationId: `g${i}`, tenant: 't' }, { jobId: `j${i}` });
  await expect.poll(() => started.length, { timeout: 120_000 }).toBe(3);
  expect(await queue.getWaitingCount()).toBe(2);
  expect(await queue.getActiveCount()).toBe(3);

  gates.get(started[1]!)!.open();
  await expect.poll(() => started.length, { timeout: 120_000 }).toBe(4);
  const finished = await queue.getJob(started[1]!);
  expect(finished?.finishedOn).toBeDefined();
  // The job names the process that ran it.
  expect(finished?.processedBy).toBe(workerProcessName());
  expect(await queue.getWaitingCount()).toBe(1);
  // The others kept their slots all along.
  expect(await queue.getActiveCount()).toBe(3);

  for (const id of started) gates.get(id)?.open();
  await expect.poll(() => started.length, { timeout: 120_000 }).toBe(5);
  for (const id of started) gates.get(id)?.open();
  await expect.poll(() => queue.getCompletedCount(), { timeout: 120_000 }).toBe(5);
});

it('fails a job its processor threw for, and its generation once the attempts are used', async () => {
  const record = queuedRecord({ status: 'planning', progress: { stage: 'planning' } });
  await fixture.lifecycle.create(record, 0);
  let calls = 0;
  await start(2, async () => {
    calls += 1;
    throw new Error('boom');
  });
  const job = await queue.add(
    'plan',
    { generationId: record.id, tenant: 'acme' },
    { attempts: 2, backoff: 0 },
  );
  await expect
    .poll(async () => (await queue.getJob(job.id!))?.finishedOn, { timeout: 120_000 })
    .toBeDefined();
  const failed = await queue.getJob(job.id!);
  expect(failed?.failedReason).toBe('boom');
  expect(failed?.attemptsMade).toBe(2);
  expect(calls).toBe(2);
  const ended = await fixture.waitForRecord(record.id, (status) => status === 'failed');
  expect(ended?.error?.code).toBe('internal_error');
});

it('keeps renewing the lock of a job held longer than its lock lasts', async () => {
  const g = gate();
  let calls = 0;
  const { env } = await start(
    2,
    async () => {
      calls += 1;
      await g.opened;
    },
    { LOCK_DURATION_MS: '1500', STALLED_INTERVAL_MS: '300' },
  );
  const job = await queue.add('plan', { generationId: 'g', tenant: 't' });
  await expect.poll(() => calls, { timeout: 120_000 }).toBe(1);
  // Hold the job through several lock lifetimes and stalled-job checks.
  const heldUntil = Date.now() + 4 * env.LOCK_DURATION_MS;
  await expect.poll(() => Date.now() > heldUntil, { timeout: 120_000, interval: 200 }).toBe(true);
  g.open();
  await expect.poll(() => queue.getCompletedCount(), { timeout: 120_000 }).toBe(1);
  const done = await queue.getJob(job.id!);
  expect(done?.stalledCounter).toBe(0);
  expect(done?.attemptsMade).toBe(1);
  expect(calls).toBe(1);
});

it('runs the stalled-job check itself and fails a job stalled too often as worker_lost', async () => {
  const record = queuedRecord({ status: 'planning', progress: { stage: 'planning' } });
  await fixture.lifecycle.create(record, 0);
  const env = parsePlannerEnv(await fixture.workerEnv('unused-pack'));
  const settings = queueSettingsFromEnv(env);
  queue = createQueue('plan', fixture.redis, settings);
  const redis = createRedis(fixture.redisServer.url, { forWorker: true });
  const connection = { connection: redis, prefix: settings.prefix };
  // Workers that take the job and die (stop renewing its lock) until it has stalled as
  // often as allowed; a checker moves it back to waiting after each death.
  const checker = new Worker(settings.names.plan, null, {
    ...connection,
    stalledInterval: 200,
    maxStalledCount: MAX_STALLED_COUNT,
    autorun: false,
  });
  let takes = 0;
  const frozen: Worker = new Worker(
    settings.names.plan,
    async () => {
      takes += 1;
      if (takes === MAX_STALLED_COUNT + 1) {
        // The last death: from here on only the consumer under test may touch the job.
        void frozen.close(true);
        void checker.close();
      }
      await new Promise(() => {});
    },
    { ...connection, concurrency: 4, lockDuration: 300, skipLockRenewal: true, skipStalledCheck: true },
  );
  await checker.startStalledCheckTimer();
  await queue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id, attempts: 3 });
  await expect.poll(() => takes, { timeout: 120_000 }).toBe(MAX_STALLED_COUNT + 1);
  await Promise.all([frozen.close(true), checker.close()]);
  await closeRedis(redis);

  let processed = 0;
  await start(
    2,
    async () => {
      processed += 1;
    },
    { LOCK_DURATION_MS: '1000', STALLED_INTERVAL_MS: '300' },
  );
  const failed = await fixture.waitForRecord(record.id, (status) => status === 'failed');
  expect(failed?.error?.code).toBe('worker_lost');
  const job = await queue.getJob(record.id);
  expect(await job?.getState()).toBe('failed');
  expect(job?.stalledCounter).toBe(MAX_STALLED_COUNT + 1);
  expect(processed).toBe(0);
});

it('on stop hands a running job back without spending an attempt and leaves waiting jobs alone', async () => {
  const record = queuedRecord({ status: 'planning', progress: { stage: 'planning' } });
  await fixture.lifecycle.create(record, 0);
  let stopsSeen = 0;
  const { consumer } = await start(
    1,
    (job, token, runtime) =>
      runGenerationJob(runtime, planJobDataSchema, job, token, ({ signal }) => {
        // Work that stops only when told to, as a model loop does between steps.
        return new Promise<void>((_, reject) => {
          signal.addEventListener('abort', () => {
            stopsSeen += 1;
            reject(new DOMException('stopped', 'AbortError'));
          });
        });
      }),
    { SHUTDOWN_GRACE_MS: '0' },
  );
  const job = await queue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id });
  await expect.poll(async () => queue.getActiveCount(), { timeout: 120_000 }).toBe(1);
  await queue.add('plan', { generationId: 'other', tenant: 'acme' }, { jobId: 'other' });
  await consumer.stop();
  running.splice(0);
  expect(stopsSeen).toBe(1);
  const back = await queue.getJob(job.id!);
  expect(['waiting', 'delayed', 'prioritized']).toContain(await back?.getState());
  expect(back?.attemptsMade).toBe(0);
  expect(await (await queue.getJob('other'))?.getState()).toBe('waiting');
  expect((await fixture.store.get(record.id))?.status).toBe('planning');
});
