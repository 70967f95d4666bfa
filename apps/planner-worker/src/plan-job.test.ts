import { mainGridSize } from '@glm-image/inference';
import { REFERENCE_MANIFEST } from '@glm-image/inference/reference-pack';
import { parsePlannerEnv } from '@glm-image/shared/env';
import type { GenerationRecord } from '@glm-image/shared/generation';
import { createQueue, decodeJobId, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { previewKey, tokensKey } from '@glm-image/shared/storage';
import { parseStoredPlan } from '@glm-image/shared/tokens';
import { queuedRecord } from '@glm-image/testing/records';
import { referencePackPath, startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import type { StageWorker } from '@glm-image/worker-runtime';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPlannerWorker } from './planner-worker.ts';

/**
 * The plan job, run in-process by the planner worker against a real Redis and S3 and the
 * reference pack: from a queued generation to its preview, its stored plan and its
 * decode job, with the generation moved to `decoding`.
 */

let fixture: WorkerFixture;
let worker: StageWorker;
let planQueue: Queue;
let decodeQueue: Queue;

beforeAll(async () => {
  fixture = await startWorkerFixture();
  const env = parsePlannerEnv(await fixture.workerEnv(await referencePackPath()));
  worker = await createPlannerWorker(env);
  planQueue = createQueue('plan', fixture.redis, queueSettingsFromEnv(env));
  decodeQueue = createQueue('decode', fixture.redis, queueSettingsFromEnv(env));
});

afterAll(async () => {
  await worker?.stop();
  await planQueue?.close();
  await decodeQueue?.close();
  await fixture?.close();
});

function queued(id: string, input: Partial<GenerationRecord['input']> = {}): GenerationRecord {
  return queuedRecord({
    id,
    input: {
      prompt: 'a red circle on a blue background with the text "HI"',
      seed: 7,
      steps: 3,
      n: 2,
      ...input,
    },
    priority: 4,
  });
}

it('plans a queued generation: preview and plan stored, decode job queued with its priority', async () => {
  const record = queued('gen_plan_1');
  await fixture.lifecycle.create(record, 0);
  await planQueue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id, priority: 4 });

  const planned = await fixture.waitForRecord(record.id, (status) => status === 'decoding');
  expect(planned).toMatchObject({
    status: 'decoding',
    progress: { stage: 'decoding', step: 0, total: 6 },
    preview: { key: previewKey('acme', record.id) },
  });
  expect(planned?.timings.plan_ms).toBeGreaterThanOrEqual(0);
  expect(planned?.timings.queued_ms).toBeGreaterThanOrEqual(0);

  const plan = parseStoredPlan(await fixture.objects.getBuffer(tokensKey('acme', record.id)));
  // The main grid the reference pack lays out for 512x512.
  expect(plan?.main).toMatchObject(mainGridSize(REFERENCE_MANIFEST, 512, 512));
  const preview = await fixture.objects.get(previewKey('acme', record.id));
  expect(preview.contentType).toBe('image/png');

  const decode = await decodeQueue.getJob(decodeJobId(record.id));
  expect(decode?.data).toMatchObject({ generationId: record.id, tenant: 'acme', main: plan?.main });
  expect(decode?.opts.priority).toBe(4);
});

it('samples the same plan for the same seed', async () => {
  const first = queued('gen_plan_seed_a', { seed: 99, n: 1 });
  const second = queued('gen_plan_seed_b', { seed: 99, n: 1 });
  for (const record of [first, second]) {
    await fixture.lifecycle.create(record, 0);
    await planQueue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id });
  }
  for (const record of [first, second]) await fixture.waitForRecord(record.id, (s) => s === 'decoding');
  const [a, b] = await Promise.all(
    [first, second].map(async (r) => fixture.objects.getBuffer(tokensKey('acme', r.id))),
  );
  expect(a?.equals(b!)).toBe(true);
});

it('fails a job whose payload is not a plan job, without retrying it', async () => {
  const job = await planQueue.add('plan', { generationId: 42 }, { jobId: 'not-a-plan', attempts: 3 });
  await expect
    .poll(async () => (await planQueue.getJob(job.id!))?.failedReason, { timeout: 30_000 })
    .toContain('invalid plan job payload');
  expect((await planQueue.getJob(job.id!))?.attemptsMade).toBe(1);
});

it('ends a generation canceled before its plan job ran, counting nothing twice', async () => {
  const record = queued('gen_plan_canceled');
  await fixture.lifecycle.create(record, 0);
  await fixture.lifecycle.requestCancel(record.id);
  await planQueue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id });
  await expect
    .poll(async () => (await planQueue.getJob(record.id))?.finishedOn, { timeout: 30_000 })
    .toBeDefined();
  expect(await fixture.store.get(record.id)).toMatchObject({ status: 'canceled' });
  expect(await decodeQueue.getJob(decodeJobId(record.id))).toBeUndefined();
});
