import { mainGridSize } from '@glm-image/inference';
import { decodeToken, PALETTE, REFERENCE_MANIFEST, Region } from '@glm-image/inference/reference-pack';
import { parsePlannerEnv } from '@glm-image/shared/env';
import type { GenerationRecord } from '@glm-image/shared/generation';
import { createQueue, decodeJobId, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { previewKey, referenceKey, tokensKey } from '@glm-image/shared/storage';
import { parseStoredPlan } from '@glm-image/shared/tokens';
import { queuedRecord } from '@glm-image/testing/records';
import { referencePackPath, startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import type { StageWorker } from '@glm-image/worker-runtime';
import type { Queue } from 'bullmq';
import sharp from 'sharp';
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
    .poll(async () => (await planQueue.getJob(job.id!))?.failedReason, { timeout: 120_000 })
    .toContain('invalid plan job payload');
  expect((await planQueue.getJob(job.id!))?.attemptsMade).toBe(1);
});

it('ends a generation canceled before its plan job ran, counting nothing twice', async () => {
  const record = queued('gen_plan_canceled');
  await fixture.lifecycle.create(record, 0);
  await fixture.lifecycle.requestCancel(record.id);
  await planQueue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id });
  await expect
    .poll(async () => (await planQueue.getJob(record.id))?.finishedOn, { timeout: 120_000 })
    .toBeDefined();
  expect(await fixture.store.get(record.id)).toMatchObject({ status: 'canceled' });
  expect(await decodeQueue.getJob(decodeJobId(record.id))).toBeUndefined();
});

it('ends a plan-only generation succeeded after the planner: preview and tokens, no outputs, no decode job', async () => {
  const record = queued('gen_plan_only', { decode: false, n: 1 });
  await fixture.lifecycle.create(record, 0);
  await planQueue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id });

  const done = await fixture.waitForRecord(record.id, (status) => status === 'succeeded');
  expect(done).toMatchObject({
    status: 'succeeded',
    outputs: [],
    preview: { key: previewKey('acme', record.id) },
    progress: { stage: 'planning' },
  });
  expect(done?.timings.plan_ms).toBeGreaterThanOrEqual(0);
  expect(done?.timings.total_ms).toBeGreaterThanOrEqual(0);
  expect(parseStoredPlan(await fixture.objects.getBuffer(tokensKey('acme', record.id)))?.main).toMatchObject(
    mainGridSize(REFERENCE_MANIFEST, 512, 512),
  );
  // The job finished without handing anything on.
  await expect
    .poll(async () => (await planQueue.getJob(record.id))?.finishedOn, { timeout: 120_000 })
    .toBeDefined();
  expect(await decodeQueue.getJob(decodeJobId(record.id))).toBeUndefined();
});

it('tokenizes the reference images and plans after them; the tokens travel to the decoder and the store', async () => {
  // A red disc up and to the right (centre in cell 4, 11 of the 16x16 grid), on blue.
  const reference = await sharp(
    Buffer.from(
      '<svg xmlns="http://www.w3.org/2000/svg" width="512" height="512"><rect width="512" height="512" fill="rgb(30,70,220)"/>' +
        '<circle cx="368" cy="144" r="72" fill="rgb(220,30,30)"/></svg>',
    ),
  )
    .png()
    .toBuffer();
  const record = queued('gen_plan_reference', { prompt: 'make the background green', n: 1 });
  const key = referenceKey('acme', record.id, 0, 'png');
  const stored = await fixture.objects.put(key, reference, 'image/png');
  record.input.reference_images = [{ key, width: 512, height: 512, format: 'png', ...stored }];
  await fixture.lifecycle.create(record, 0);
  await planQueue.add('plan', { generationId: record.id, tenant: 'acme' }, { jobId: record.id });
  await fixture.waitForRecord(record.id, (status) => status === 'decoding');

  const plan = parseStoredPlan(await fixture.objects.getBuffer(tokensKey('acme', record.id)))!;
  expect(plan.references).toHaveLength(1);
  const decode = await decodeQueue.getJob(decodeJobId(record.id));
  expect(decode?.data.references).toEqual(plan.references);
  // The reference's disc is shape cells; the plan keeps it there and greens the rest.
  const at = (grid: { cols: number; tokens: number[] }, row: number, col: number) => {
    const { region, colour } = decodeToken(grid.tokens[row * grid.cols + col]!);
    return { region, colour: PALETTE[colour]?.name };
  };
  expect(at(plan.references![0]!, 4, 11)).toEqual({ region: Region.shape, colour: 'red' });
  expect(at(plan.main, 4, 11)).toEqual({ region: Region.shape, colour: 'red' });
  expect(at(plan.main, 13, 2)).toEqual({ region: Region.background, colour: 'green' });
});
