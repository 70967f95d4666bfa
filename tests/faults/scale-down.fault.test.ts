/**
 * Scale-down under load: planner and decoder processes get SIGTERM, taking turns, each
 * the moment it is seen holding jobs, as Kubernetes stops a pod it scales in or replaces.
 * Planners keep the shipped grace (SHUTDOWN_GRACE_MS, 30 s) and finish their plans;
 * decoders get 1 s, shorter than the long renders in the mix, so they also hand jobs
 * back. Each stopped process is started again, so the load goes on.
 *
 * Held to: every stopped process exits 0 and leaves no job behind it (each job it held
 * finished or went back to the queue before it exited: none waits for the stalled check);
 * no job stalls at all during the run; every generation succeeds, once, with one set of
 * objects. The test prints how long each process took from SIGTERM to exit.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { GenerationStore } from '@glm-image/shared/generation-store';
import { decodeJobId } from '@glm-image/shared/queues';
import type { RedisClient } from '@glm-image/shared/redis';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { listObjectKeys } from '../../packages/testing/src/s3-server.ts';
import type { ManagedProcess } from '../../scripts/stack/managed-process.ts';
import type { E2eSystem } from '../e2e/harness.ts';
import { runBurstyLoad } from './support/bursty-load.ts';
import { type BusyWorkersSystem, startBusyWorkersSystem } from './support/busy-workers-system.ts';
import { endingsOf, keysByGeneration } from './support/generation-outcomes.ts';
import { jobsHeldBy, workerNameOf } from './support/held-jobs.ts';
import { RENDERABLE_SIZE } from './support/size-limited-pack.ts';

const GENERATIONS = 300;
/** SIGTERMs that caught a process holding jobs, planners and decoders alike. */
const STOPS = 8;
/** Every this many generations, a render far longer than the decoders' grace. */
const LONG_RENDER_EVERY = 8;
const DECODER_GRACE_MS = 1000;
const TENANT = 'scale-down';

let busy: BusyWorkersSystem;
let system: E2eSystem;
let redis: RedisClient;
let store: GenerationStore;
let planQueue: Queue;
let decodeQueue: Queue;

beforeAll(async () => {
  busy = await startBusyWorkersSystem({
    tenant: TENANT,
    // Unset as well: the shipped grace, which planners keep.
    env: { SHUTDOWN_GRACE_MS: '' },
    decoderEnv: { SHUTDOWN_GRACE_MS: String(DECODER_GRACE_MS) },
  });
  ({ system, redis, store, planQueue, decodeQueue } = busy);
});

afterAll(async () => {
  await busy?.stop();
});

interface Worker {
  role: 'planner' | 'decoder';
  /** Its name in the stack's log lines (planner-1 …). */
  name: string;
  process: ManagedProcess;
  queue: Queue;
}

interface Stop {
  role: Worker['role'];
  held: number;
  exit: string;
  msToExit: number;
  /** Jobs still active under its name once it had exited: left for the stalled check. */
  leftBehind: string[];
}

const exitsOf = (name: string) => system.logs.filter((line) => line.startsWith(`${name}: exited (`));

/** SIGTERM the moment the worker is seen holding a job; resolves once it has exited. */
async function stopWhileBusy(worker: Worker): Promise<Stop> {
  for (;;) {
    const pid = worker.process.pid;
    const held = pid === undefined ? [] : await jobsHeldBy(worker.queue, workerNameOf(pid));
    if (pid === undefined || held.length === 0 || worker.process.pid !== pid) {
      await sleep(20);
      continue;
    }
    const exitsBefore = exitsOf(worker.name).length;
    const signalledAt = Date.now();
    worker.process.kill('SIGTERM');
    while (worker.process.pid === pid) await sleep(10);
    const msToExit = Date.now() - signalledAt;
    await expect.poll(() => exitsOf(worker.name).length, { timeout: 300_000 }).toBe(exitsBefore + 1);
    return {
      role: worker.role,
      held: held.length,
      exit: exitsOf(worker.name).at(-1)!,
      msToExit,
      leftBehind: await jobsHeldBy(worker.queue, workerNameOf(pid)),
    };
  }
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

it('a worker stopped while busy exits 0, leaves no job behind, and nothing is lost', async () => {
  const { client, stack } = system;
  const workers: Record<Worker['role'], Worker[]> = {
    planner: stack.planners.map((process, i) => ({
      role: 'planner',
      name: `planner-${i + 1}`,
      process,
      queue: planQueue,
    })),
    decoder: stack.decoders.map((process, i) => ({
      role: 'decoder',
      name: `decoder-${i + 1}`,
      process,
      queue: decodeQueue,
    })),
  };
  const stops: Stop[] = [];
  const stopping = (async () => {
    while (stops.length < STOPS) {
      const role = stops.length % 2 === 0 ? 'planner' : 'decoder';
      const worker = workers[role][Math.floor(Math.random() * workers[role].length)]!;
      await sleep(Math.random() * 2000);
      stops.push(await stopWhileBusy(worker));
    }
  })();

  const unfinishedKey = store.keys.tenantUnfinished(TENANT);
  const ids = await runBurstyLoad({
    client,
    unfinished: () => redis.zcard(unfinishedKey),
    lowWater: 24,
    burst: 32,
    body: (n) => ({
      prompt: `shape number ${n}`,
      width: RENDERABLE_SIZE,
      height: RENDERABLE_SIZE,
      steps: n % LONG_RENDER_EVERY === 0 ? 100 : 1,
      seed: n,
    }),
    more: (accepted) => accepted < GENERATIONS || stops.length < STOPS,
  });
  await stopping;
  while ((await redis.zcard(unfinishedKey)) > 0) await sleep(200);

  for (const stop of stops) {
    expect(stop.exit).toMatch(/exited \(0\)/);
    expect(stop.leftBehind).toEqual([]);
  }
  // No job ever waited for the stalled check: each stopped worker finished or handed back.
  for (const id of ids) {
    for (const [queue, jobId] of [
      [planQueue, id],
      [decodeQueue, decodeJobId(id)],
    ] as const) {
      const job = await queue.getJob(jobId);
      expect(job?.stalledCounter, `${jobId}`).toBe(0);
    }
  }
  const lost: string[] = [];
  for (const id of ids) {
    const view = await client.get(id);
    if (view.status !== 'succeeded') lost.push(`${id}: ${view.status} ${JSON.stringify(view.error)}`);
    expect(await endingsOf(store, id)).toEqual(['succeeded']);
  }
  expect(lost).toEqual([]);
  const objects = keysByGeneration(await listObjectKeys(system.s3), ids);
  for (const id of ids) {
    expect(
      objects.get(id)!.filter((key) => /\/\d+\.png$/.test(key)),
      id,
    ).toHaveLength(1);
  }
  expect([...objects.keys()].filter((key) => key.startsWith('(unknown)'))).toEqual([]);

  const handedBack = system.logs.filter((line) => line.includes('handed back')).length;
  const toExit = (role: Worker['role']) =>
    stops
      .filter((stop) => stop.role === role)
      .map((stop) => stop.msToExit)
      .sort((a, b) => a - b);
  const figures = (role: Worker['role']) => {
    const ms = toExit(role);
    return `${role}s ${ms.length}, SIGTERM to exit p50 ${percentile(ms, 50)} ms, max ${ms.at(-1)} ms`;
  };
  console.log(
    [
      'scale-down under load:',
      `  generations: ${ids.length}, every ${LONG_RENDER_EVERY}th a 100-step render; decoder grace ${DECODER_GRACE_MS} ms, planner grace 30000 ms`,
      `  SIGTERMs while holding jobs: ${stops.length}, holding ${stops.reduce((sum, stop) => sum + stop.held, 0)} jobs; all exited 0`,
      `  ${figures('planner')}; ${figures('decoder')}`,
      `  log lines about jobs handed back: ${handedBack}; jobs left for the stalled check: 0; generations lost: ${lost.length}`,
    ].join('\n'),
  );
});
