import { parsePlannerEnv } from '@glm-image/shared/env';
import type { GenerationRecord } from '@glm-image/shared/generation';
import { createQueue, decodeJobId, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { tokensKey } from '@glm-image/shared/storage';
import { parseStoredPlan } from '@glm-image/shared/tokens';
import { queuedRecord } from '@glm-image/testing/records';
import { referencePackPath, startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import type { StageWorker } from '@glm-image/worker-runtime';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createPlannerWorker } from './planner-worker.ts';

/**
 * The planner worker decoding several plan jobs in one batch, in-process against a real
 * Redis and S3 and the reference pack: a job that arrives while a long plan decodes joins
 * it and finishes first; a canceled one leaves the batch while the others finish.
 */

let fixture: WorkerFixture;
let worker: StageWorker;
let planQueue: Queue;
let decodeQueue: Queue;

beforeAll(async () => {
  fixture = await startWorkerFixture();
  const env = parsePlannerEnv(
    await fixture.workerEnv(await referencePackPath(), {
      PLANNER_MAX_BATCH: '4',
      // Locks shorter than a long plan: the worker must keep renewing them.
      LOCK_DURATION_MS: '3000',
      STALLED_INTERVAL_MS: '1000',
    }),
  );
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

async function submit(id: string, input: Partial<GenerationRecord['input']>): Promise<GenerationRecord> {
  const record = queuedRecord({ id, input: { steps: 2, n: 1, ...input } });
  await fixture.lifecycle.create(record, 0);
  await planQueue.add('plan', { generationId: id, tenant: 'acme' }, { jobId: id });
  return record;
}

/** Tokens planned so far for a generation in `planning` (its progress), 0 before. */
async function plannedTokens(id: string): Promise<number> {
  const record = await fixture.store.get(id);
  return record?.progress.stage === 'planning' ? (record.progress.step ?? 0) : 0;
}

it('a job that arrives while a long plan decodes joins the batch and completes first', async () => {
  // 1536x1536: 256 preview + 2304 main tokens; the joining 512x512 plan needs 512.
  await submit('gen_batch_long', { prompt: 'a blue square above a red circle', width: 1536, height: 1536 });
  await expect.poll(() => plannedTokens('gen_batch_long'), { timeout: 120_000 }).toBeGreaterThan(0);
  await submit('gen_batch_join', { prompt: 'a green triangle', width: 512, height: 512, seed: 3 });

  await fixture.waitForRecord('gen_batch_join', (status) => status === 'decoding');
  // Decoded beside the long plan, not after it: that one is still planning.
  expect((await fixture.store.get('gen_batch_long'))?.status).toBe('planning');
  const joined = parseStoredPlan(await fixture.objects.getBuffer(tokensKey('acme', 'gen_batch_join')));
  expect(joined?.main).toMatchObject({ rows: 16, cols: 16 });
  expect(await decodeQueue.getJob(decodeJobId('gen_batch_join'))).toBeDefined();

  await fixture.waitForRecord('gen_batch_long', (status) => status === 'decoding', 120_000);
  const long = parseStoredPlan(await fixture.objects.getBuffer(tokensKey('acme', 'gen_batch_long')));
  expect(long?.main).toMatchObject({ rows: 48, cols: 48 });
  // Its lock was renewed throughout: never stalled, one attempt.
  const job = await planQueue.getJob('gen_batch_long');
  expect(job?.stalledCounter).toBe(0);
  expect(job?.attemptsMade).toBe(1);
});

it('a canceled plan leaves the batch; the others still finish', async () => {
  await submit('gen_batch_a', { prompt: 'a red circle', width: 1024, height: 1024, seed: 5 });
  await submit('gen_batch_b', { prompt: 'a yellow square', width: 1024, height: 1024, seed: 6 });
  await submit('gen_batch_c', { prompt: 'a white sign that says "OK"', width: 768, height: 512, seed: 7 });
  for (const id of ['gen_batch_a', 'gen_batch_b', 'gen_batch_c']) {
    await expect.poll(() => plannedTokens(id), { timeout: 120_000 }).toBeGreaterThan(0);
  }
  await fixture.lifecycle.requestCancel('gen_batch_b');
  const canceled = await fixture.waitForRecord('gen_batch_b', (status) => status === 'canceled');
  expect(canceled?.status).toBe('canceled');
  for (const id of ['gen_batch_a', 'gen_batch_c']) {
    await fixture.waitForRecord(id, (status) => status === 'decoding', 120_000);
    expect(await decodeQueue.getJob(decodeJobId(id))).toBeDefined();
  }
  expect(await decodeQueue.getJob(decodeJobId('gen_batch_b'))).toBeUndefined();
});
