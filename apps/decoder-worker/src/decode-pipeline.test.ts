import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mainGridSize } from '@glm-image/inference';
import {
  buildPack,
  fixedCostPack,
  ZERO_COST_MANIFEST,
  zeroCostPack,
} from '@glm-image/inference/reference-pack';
import { parseDecoderEnv } from '@glm-image/shared/env';
import type { GenerationInput, GenerationRecord } from '@glm-image/shared/generation';
import { createQueue, decodeJobId, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { ObjectStore } from '@glm-image/shared/storage';
import { queuedRecord } from '@glm-image/testing/records';
import { objectStoreConfigFor } from '@glm-image/testing/s3-server';
import { startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import type { StageWorker } from '@glm-image/worker-runtime';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDecoderWorker } from './decoder-worker.ts';

/**
 * The decoder never waits: the next render runs while an image uploads, whether the
 * next image is the same generation's or the next job's. Proved by holding an upload back
 * until the next render has reported a step: without the overlap that never happens.
 * And nothing is lost when the worker stops with a job rendering and one queued behind it.
 */

let fixture: WorkerFixture;
let packs: string;
let decodeQueue: Queue;

beforeAll(async () => {
  fixture = await startWorkerFixture();
  packs = await mkdtemp(join(tmpdir(), 'glm-decode-pipeline-'));
  await buildPack(join(packs, 'zero-cost'), zeroCostPack());
  await buildPack(join(packs, 'fixed-cost'), fixedCostPack());
  const env = parseDecoderEnv(await fixture.workerEnv(join(packs, 'zero-cost')));
  decodeQueue = createQueue('decode', fixture.redis, queueSettingsFromEnv(env));
});

afterAll(async () => {
  await decodeQueue?.close();
  await fixture?.close();
  if (packs) await rm(packs, { recursive: true, force: true });
});

/** A generation as the planner leaves it: planned, its decode job not yet on the queue. */
async function planned(input: Partial<GenerationInput>): Promise<GenerationRecord> {
  const record = queuedRecord({ input: { width: 64, height: 64, output_format: 'png', ...input } });
  await fixture.lifecycle.create(record, 0);
  await fixture.lifecycle.startStage(record, 'planning');
  await fixture.lifecycle.planned(record.id);
  return record;
}

async function enqueueDecode(record: GenerationRecord): Promise<void> {
  const { rows, cols } = mainGridSize(ZERO_COST_MANIFEST, record.input.width, record.input.height);
  await decodeQueue.add(
    'decode',
    {
      generationId: record.id,
      tenant: record.tenant,
      main: { rows, cols, tokens: new Array(rows * cols).fill(3) },
    },
    { jobId: decodeJobId(record.id) },
  );
}

const imageKey = (record: GenerationRecord, index: number) =>
  `generations/${record.tenant}/${record.id}/${index}.png`;

/** Resolves true once `condition` holds, false if it never does within the time given. */
async function eventually(condition: () => Promise<boolean>, timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return false;
}

const stepOf = async (id: string) => (await fixture.store.get(id))?.progress.step ?? 0;

/**
 * The real object store, except that an upload may be held back until a condition
 * holds: what happened while it waited is written to `events`.
 */
class HeldUploads extends ObjectStore {
  readonly events: string[] = [];
  private readonly holds = new Map<string, { label: string; until: () => Promise<boolean> }>();

  holdUntil(key: string, label: string, until: () => Promise<boolean>): void {
    this.holds.set(key, { label, until });
  }

  override async put(...args: Parameters<ObjectStore['put']>): ReturnType<ObjectStore['put']> {
    const [key] = args;
    const hold = this.holds.get(key);
    if (hold) {
      this.holds.delete(key);
      this.events.push(`upload held: ${key}`);
      this.events.push(`${hold.label}: ${await eventually(hold.until)}`);
    }
    return super.put(...args);
  }
}

describe('with uploads held back', () => {
  let worker: StageWorker;
  let objects: HeldUploads;

  beforeAll(async () => {
    objects = new HeldUploads(objectStoreConfigFor(fixture.s3));
    const env = parseDecoderEnv(await fixture.workerEnv(join(packs, 'zero-cost')));
    expect(env.DECODER_CONCURRENCY).toBe(2);
    worker = await createDecoderWorker(env, { objects });
  });

  afterAll(async () => {
    await worker?.stop();
    objects?.close();
  });

  it("renders the next job while this job's image uploads", async () => {
    const first = await planned({ steps: 4 });
    const next = await planned({ steps: 4 });
    objects.holdUntil(
      imageKey(first, 0),
      'the next job rendered a step',
      async () => (await stepOf(next.id)) >= 1,
    );
    await enqueueDecode(first);
    await enqueueDecode(next);
    await fixture.waitForRecord(first.id, (status) => status === 'succeeded');
    await fixture.waitForRecord(next.id, (status) => status === 'succeeded');
    expect(objects.events.splice(0)).toEqual([
      `upload held: ${imageKey(first, 0)}`,
      'the next job rendered a step: true',
    ]);
  });

  it("renders a generation's next image while its first one uploads", async () => {
    const steps = 3;
    const record = await planned({ steps, n: 2 });
    // Steps past the first image's are the second image's.
    objects.holdUntil(
      imageKey(record, 0),
      'the second image rendered',
      async () => (await stepOf(record.id)) > steps,
    );
    await enqueueDecode(record);
    const done = await fixture.waitForRecord(record.id, (status) => status === 'succeeded');
    expect(objects.events.splice(0)).toEqual([
      `upload held: ${imageKey(record, 0)}`,
      'the second image rendered: true',
    ]);
    expect(done?.outputs.map((output) => output.key)).toEqual([imageKey(record, 0), imageKey(record, 1)]);
    expect(done?.progress).toEqual({ stage: 'uploading', step: 2 * steps, total: 2 * steps });
  });
});

describe('stopped with a job rendering and one queued behind it', () => {
  it('hands the queued job back at once and lets the rendering one finish within its grace', async () => {
    const objects = new HeldUploads(objectStoreConfigFor(fixture.s3));
    const env = parseDecoderEnv(
      await fixture.workerEnv(join(packs, 'fixed-cost'), { SHUTDOWN_GRACE_MS: '600000' }),
    );
    const stopping = await createDecoderWorker(env, { objects });
    const rendering = await planned({ steps: 50 });
    const queued = await planned({ steps: 50 });
    const handedBack = async () =>
      ['waiting', 'delayed', 'prioritized'].includes(await decodeQueue.getJobState(decodeJobId(queued.id)));
    // The rendering job cannot end before the queued one is back on the queue.
    objects.holdUntil(imageKey(rendering, 0), 'the queued job was handed back', handedBack);
    await enqueueDecode(rendering);
    await enqueueDecode(queued);
    await expect.poll(() => stepOf(rendering.id), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
    await expect
      .poll(() => decodeQueue.getJobState(decodeJobId(queued.id)), { timeout: 120_000 })
      .toBe('active');
    await stopping.stop();
    objects.close();

    expect(objects.events).toEqual([
      `upload held: ${imageKey(rendering, 0)}`,
      'the queued job was handed back: true',
    ]);
    expect((await fixture.store.get(rendering.id))?.status).toBe('succeeded');
    expect((await decodeQueue.getJob(decodeJobId(queued.id)))?.attemptsMade).toBe(0);
    const next = await createDecoderWorker(
      parseDecoderEnv(await fixture.workerEnv(join(packs, 'zero-cost'), { SHUTDOWN_GRACE_MS: '0' })),
    );
    try {
      expect(
        (await fixture.waitForRecord(queued.id, (status) => status === 'succeeded'))?.outputs,
      ).toHaveLength(1);
      await expect.poll(() => decodeQueue.getJobState(decodeJobId(queued.id))).toBe('completed');
      expect((await decodeQueue.getJob(decodeJobId(queued.id)))?.attemptsMade).toBe(1);
    } finally {
      await next.stop();
    }
  });

  it('hands both back without spending an attempt, and both succeed on the next worker', async () => {
    // The fixed-cost pack makes each step long enough that a render is still running when the worker stops.
    const env = parseDecoderEnv(
      await fixture.workerEnv(join(packs, 'fixed-cost'), { SHUTDOWN_GRACE_MS: '0' }),
    );
    const stopping = await createDecoderWorker(env);
    const rendering = await planned({ steps: 50 });
    const queued = await planned({ steps: 50 });
    await enqueueDecode(rendering);
    await enqueueDecode(queued);
    await expect.poll(() => stepOf(rendering.id), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
    await expect
      .poll(() => decodeQueue.getJobState(decodeJobId(queued.id)), { timeout: 120_000 })
      .toBe('active');
    await stopping.stop();

    for (const record of [rendering, queued]) {
      const job = await decodeQueue.getJob(decodeJobId(record.id));
      expect(job?.attemptsMade, record.id).toBe(0);
      expect(await job?.getState()).toMatch(/^(waiting|delayed|prioritized)$/);
      expect((await fixture.store.get(record.id))?.status).toBe('decoding');
    }

    const next = await createDecoderWorker(
      parseDecoderEnv(await fixture.workerEnv(join(packs, 'zero-cost'), { SHUTDOWN_GRACE_MS: '0' })),
    );
    try {
      for (const record of [rendering, queued]) {
        const done = await fixture.waitForRecord(record.id, (status) => status === 'succeeded');
        expect(done?.outputs).toHaveLength(1);
        await expect.poll(() => decodeQueue.getJobState(decodeJobId(record.id))).toBe('completed');
        expect((await decodeQueue.getJob(decodeJobId(record.id)))?.attemptsMade).toBe(1);
      }
    } finally {
      await next.stop();
    }
  });
});
