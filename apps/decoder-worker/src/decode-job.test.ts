import { createHash } from 'node:crypto';
import { mainGridSize } from '@glm-image/inference';
import { encodeToken, PALETTE, REFERENCE_MANIFEST, Region } from '@glm-image/inference/reference-pack';
import { parseDecoderEnv } from '@glm-image/shared/env';
import type { GenerationRecord } from '@glm-image/shared/generation';
import { createQueue, decodeJobId, queueSettingsFromEnv } from '@glm-image/shared/queues';
import { referenceKey } from '@glm-image/shared/storage';
import type { TokenGrid } from '@glm-image/shared/tokens';
import { queuedRecord } from '@glm-image/testing/records';
import { referencePackPath, startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import type { StageWorker } from '@glm-image/worker-runtime';
import type { Queue } from 'bullmq';
import sharp from 'sharp';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDecoderWorker } from './decoder-worker.ts';

/**
 * The decode job, run in-process by the decoder worker against a real Redis and S3 and
 * the reference pack: from a planned generation to its uploaded images, with the
 * generation ended succeeded and its outputs recorded.
 */

let fixture: WorkerFixture;
let worker: StageWorker;
let decodeQueue: Queue;

beforeAll(async () => {
  fixture = await startWorkerFixture();
  const env = parseDecoderEnv(await fixture.workerEnv(await referencePackPath()));
  worker = await createDecoderWorker(env);
  decodeQueue = createQueue('decode', fixture.redis, queueSettingsFromEnv(env));
});

afterAll(async () => {
  await worker?.stop();
  await decodeQueue?.close();
  await fixture?.close();
});

function planned(id: string, input: Partial<GenerationRecord['input']> = {}): GenerationRecord {
  return queuedRecord({
    id,
    input: { prompt: 'a poster with the text "OK"', seed: 5, n: 2, output_format: 'webp', ...input },
  });
}

/** A main grid of the size the pack lays out, as a planner would hand it over. */
function mainGrid(width: number, height: number): TokenGrid {
  const { rows, cols } = mainGridSize(REFERENCE_MANIFEST, width, height);
  return { rows, cols, tokens: Array.from({ length: rows * cols }, (_, i) => i % 7) };
}

it('renders every image, uploads it under its own key with its digest, and ends succeeded', async () => {
  const record = planned('gen_decode_1');
  await fixture.lifecycle.create(record, 0);
  await fixture.lifecycle.startStage(record, 'planning');
  await fixture.lifecycle.planned(record.id);
  await decodeQueue.add(
    'decode',
    { generationId: record.id, tenant: 'acme', main: mainGrid(512, 512) },
    { jobId: decodeJobId(record.id) },
  );

  const done = await fixture.waitForRecord(record.id, (status) => status === 'succeeded');
  expect(done?.outputs.map((o) => o.key)).toEqual([
    `generations/acme/${record.id}/0.webp`,
    `generations/acme/${record.id}/1.webp`,
  ]);
  expect(done?.progress).toEqual({ stage: 'uploading', step: 4, total: 4 });
  expect(done?.timings.decode_ms).toBeGreaterThanOrEqual(0);
  expect(done?.timings.upload_ms).toBeGreaterThanOrEqual(0);
  for (const output of done?.outputs ?? []) {
    const bytes = await fixture.objects.getBuffer(output.key);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(output.sha256);
    expect(bytes.byteLength).toBe(output.bytes);
    expect(await sharp(bytes).metadata()).toMatchObject({ format: 'webp', width: 512, height: 512 });
  }
  // Each image of a generation gets its own noise.
  expect(done?.outputs[0]?.sha256).not.toBe(done?.outputs[1]?.sha256);
});

it('renders a re-render straight from queued', async () => {
  const record = planned('gen_decode_rerender', {
    n: 1,
    output_format: 'jpeg',
    source_generation_id: 'gen_x',
  });
  await fixture.lifecycle.create(record, 0);
  await decodeQueue.add(
    'decode',
    { generationId: record.id, tenant: 'acme', main: mainGrid(512, 512) },
    { jobId: decodeJobId(record.id) },
  );
  const done = await fixture.waitForRecord(record.id, (status) => status === 'succeeded');
  expect(done?.outputs).toHaveLength(1);
  expect(done?.outputs[0]?.key).toBe(`generations/acme/${record.id}/0.jpg`);
  expect(done?.started_at).toBeDefined();
});

it('fails a generation whose tokens do not fit its size, as a model input error, without retrying', async () => {
  const record = planned('gen_decode_bad_grid', { n: 1 });
  await fixture.lifecycle.create(record, 0);
  await decodeQueue.add(
    'decode',
    { generationId: record.id, tenant: 'acme', main: mainGrid(1024, 512) },
    { jobId: decodeJobId(record.id), attempts: 3 },
  );
  const failed = await fixture.waitForRecord(record.id, (status) => status === 'failed');
  expect(failed?.error?.code).toBe('invalid_input');
  // The record fails before BullMQ moves the job to failed: wait for the job's own state.
  await expect
    .poll(async () => decodeQueue.getJobState(decodeJobId(record.id)), { timeout: 120_000 })
    .toBe('failed');
  expect((await decodeQueue.getJob(decodeJobId(record.id)))?.attemptsMade).toBe(1);
});

it("decodes every image with the generation's reference images, read back from the store", async () => {
  // The reference: one colour the palette does not have; its tokens, and the plan, say red shape.
  const colour = { r: 215, g: 65, b: 50 };
  const reference = await sharp({ create: { width: 512, height: 512, channels: 3, background: colour } })
    .png()
    .toBuffer();
  const { rows, cols } = mainGridSize(REFERENCE_MANIFEST, 512, 512);
  const red = encodeToken(
    Region.shape,
    PALETTE.findIndex((p) => p.name === 'red'),
    128,
  );
  const grid: TokenGrid = { rows, cols, tokens: new Array(rows * cols).fill(red) };
  const centre = async (id: string, index = 0) => {
    const done = await fixture.waitForRecord(id, (status) => status === 'succeeded');
    const bytes = await fixture.objects.getBuffer(done!.outputs[index]!.key);
    const { data } = await sharp(bytes)
      .extract({ left: 192, top: 192, width: 128, height: 128 })
      .raw()
      .toBuffer({
        resolveWithObject: true,
      });
    const mean = [0, 1, 2].map(
      (c) => data.filter((_, i) => i % 3 === c).reduce((a, b) => a + b, 0) / (data.length / 3),
    );
    return mean;
  };

  // Two images, rendered back to back: each image's request carries the references.
  const edited = planned('gen_decode_reference', { n: 2, guidance_scale: 0, output_format: 'png' });
  const key = referenceKey('acme', edited.id, 0, 'png');
  const stored = await fixture.objects.put(key, reference, 'image/png');
  edited.input.reference_images = [{ key, width: 512, height: 512, format: 'png', ...stored }];
  const plain = planned('gen_decode_no_reference', { n: 1, guidance_scale: 0, output_format: 'png' });
  for (const [record, references] of [
    [edited, [grid]],
    [plain, undefined],
  ] as const) {
    await fixture.lifecycle.create(record, 0);
    await decodeQueue.add(
      'decode',
      { generationId: record.id, tenant: 'acme', main: grid, ...(references ? { references } : {}) },
      { jobId: decodeJobId(record.id) },
    );
  }
  for (const index of [0, 1]) {
    const [r, g, b] = await centre(edited.id, index);
    expect([r, g, b].map((v, i) => Math.abs(v! - [colour.r, colour.g, colour.b][i]!) < 10)).toEqual([
      true,
      true,
      true,
    ]);
  }
  // Without them the same plan is the palette's red.
  const [, plainGreen] = await centre(plain.id);
  expect(plainGreen).toBeLessThan(colour.g - 20);
});
