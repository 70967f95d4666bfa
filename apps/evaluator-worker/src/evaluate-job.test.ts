import { Decoder, loadModelPack, Planner, PreviewRenderer } from '@glm-image/inference';
import { parseEvaluatorEnv } from '@glm-image/shared/env';
import { EvaluationRequests } from '@glm-image/shared/evaluations';
import type { GenerationOutput, GenerationRecord } from '@glm-image/shared/generation';
import {
  createQueue,
  type EvaluateJobData,
  evaluateJobId,
  queueSettingsFromEnv,
} from '@glm-image/shared/queues';
import { outputKey, previewKey, tokensKey } from '@glm-image/shared/storage';
import { encodeStoredPlan } from '@glm-image/shared/tokens';
import { queuedRecord } from '@glm-image/testing/records';
import { referencePackPath, startWorkerFixture, type WorkerFixture } from '@glm-image/testing/worker-fixture';
import type { StageWorker } from '@glm-image/worker-runtime';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OCR_SCORER } from './evaluate-job.ts';
import { createEvaluatorWorker } from './evaluator-worker.ts';

/**
 * The evaluate job, run in-process by the evaluator worker against a real Redis and S3,
 * the reference pack's planner and decoder making the images, and real OCR reading them.
 */

let fixture: WorkerFixture;
let worker: StageWorker;
let queue: Queue<EvaluateJobData>;
let evaluations: EvaluationRequests;
let planner: Planner;
let decoder: Decoder;
let preview: PreviewRenderer | null;

beforeAll(async () => {
  fixture = await startWorkerFixture();
  const pack = await referencePackPath();
  const env = parseEvaluatorEnv(await fixture.workerEnv(pack));
  worker = await createEvaluatorWorker(env);
  queue = createQueue<EvaluateJobData>('evaluate', fixture.redis, queueSettingsFromEnv(env));
  evaluations = new EvaluationRequests(queue);
  const loaded = await loadModelPack(pack);
  [planner, decoder, preview] = await Promise.all([
    Planner.load(loaded),
    Decoder.load(loaded),
    PreviewRenderer.load(loaded),
  ]);
});

afterAll(async () => {
  await worker?.stop();
  await queue?.close();
  await Promise.allSettled([planner?.close(), decoder?.close(), preview?.close()]);
  await fixture?.close();
});

interface Made {
  record: GenerationRecord;
}

/**
 * A generation through the real planner and decoder, stored the way the workers store
 * it and ended succeeded through the lifecycle. `glyphPrompt` is what the decoder is
 * given instead of the prompt: its quoted text becomes the glyphs it draws.
 */
async function succeeded(
  prompt: string,
  options: { glyphPrompt?: string; n?: number; source?: GenerationRecord; decode?: boolean } = {},
): Promise<Made> {
  const input = {
    prompt,
    seed: 3,
    n: options.n ?? 1,
    ...(options.source ? { source_generation_id: options.source.id } : {}),
    ...(options.decode === false ? { decode: false } : {}),
  };
  const record = queuedRecord({ input });
  const { tenant, id } = record;
  await fixture.lifecycle.create(record, 0);
  await fixture.lifecycle.startStage(record, 'planning');
  const size = { width: record.input.width, height: record.input.height };
  const plan = await planner.plan({ prompt, ...size, seed: record.input.seed });
  if (!options.source) {
    await fixture.objects.put(tokensKey(tenant, id), encodeStoredPlan(plan), 'application/json');
    const image = await preview!.render(plan.preview);
    await fixture.objects.put(previewKey(tenant, id), image.image, 'image/png');
    await fixture.lifecycle.update(id, { preview: { key: previewKey(tenant, id), width: 128, height: 128 } });
  }
  if (options.decode === false) {
    // A plan-only generation ends as the planner worker ends it: succeeded, with no outputs.
    return { record: (await fixture.lifecycle.succeedWithPlan(id, {}))! };
  }
  await fixture.lifecycle.planned(id);
  const outputs: GenerationOutput[] = [];
  for (let index = 0; index < record.input.n; index += 1) {
    const rendered = await decoder.render({
      prompt: options.glyphPrompt ?? prompt,
      main: plan.main,
      ...size,
      seed: record.input.seed + index,
      steps: 2,
    });
    const key = outputKey(tenant, id, index, 'png');
    const stored = await fixture.objects.put(key, rendered.image, 'image/png');
    outputs.push({ key, ...size, format: 'png', ...stored });
  }
  const ended = await fixture.lifecycle.succeed(id, { outputs });
  return { record: ended! };
}

async function scored(record: GenerationRecord, until: (r: GenerationRecord) => boolean) {
  await evaluations.request(record);
  let latest: GenerationRecord | null = null;
  await expect
    .poll(
      async () => {
        latest = await fixture.store.get(record.id);
        return latest !== null && until(latest);
      },
      { timeout: 120_000, interval: 100 },
    )
    .toBe(true);
  return latest!;
}

describe('evaluate job', () => {
  it('scores legible text above text the decoder was given garbled, per span and per image', async () => {
    const prompt = 'a white card with the words "HELLO WORLD"';
    const legible = await succeeded(prompt);
    // Garbled: every letter one along the alphabet, so no stretch of it reads as the span.
    const garbled = await succeeded(prompt, { glyphPrompt: 'a white card with the words "IFMMP XPSME"' });
    const [good, bad] = await Promise.all(
      [legible, garbled].map((made) => scored(made.record, (r) => r.quality?.decode !== undefined)),
    );

    const goodDecode = good!.quality!.decode!;
    const badDecode = bad!.quality!.decode!;
    expect(goodDecode.scorers).toEqual([OCR_SCORER, 'colourfulness']);
    expect(goodDecode.outputs?.[0]?.spans).toEqual([{ text: 'HELLO WORLD', read: 'HELLO WORLD', cer: 0 }]);
    expect(goodDecode.scores.text_legibility).toBe(1);
    expect(badDecode.outputs?.[0]?.spans?.[0]?.cer).toBeGreaterThan(0.5);
    expect(badDecode.scores.text_legibility).toBeLessThan(goodDecode.scores.text_legibility! - 0.5);
    // The pack's colourfulness scorer model ran on the same images.
    expect(goodDecode.scores.colourfulness).toBeGreaterThanOrEqual(0);
    expect(goodDecode.scores.colourfulness).toBeLessThanOrEqual(1);
  });

  it("checks the plan's colours and text panel against the prompt, and says where they are", async () => {
    const { record } = await succeeded('a red circle on a blue background with a sign that says "HI"');
    const after = await scored(
      record,
      (r) => r.quality?.plan !== undefined && r.quality.decode !== undefined,
    );
    const plan = after.quality!.plan!;
    expect(plan.scorers).toEqual(['reference-layout']);
    expect(plan.scores).toEqual({ prompt_alignment: 1 });
    expect(plan.checks?.map((c) => [c.check, c.subject, c.expected, c.found])).toEqual([
      ['colour', 'red', true, true],
      ['colour', 'blue', true, true],
      ['text_panel', 'text', true, true],
    ]);
    // The panel lies below the circle, across most of the width.
    const panel = plan.checks!.find((c) => c.check === 'text_panel')!;
    expect(panel.box!.y).toBeGreaterThan(0.5);
    expect(panel.box!.w).toBeGreaterThan(0.7);
  });

  it('annotates without moving the generation: status, completion and events stay as they were', async () => {
    const { record } = await succeeded('a green square and the word "GO"');
    const eventsBefore = await fixture.store.readEvents(record.id);
    const after = await scored(record, (r) => r.quality?.decode !== undefined);
    expect(after.status).toBe('succeeded');
    expect(after.completed_at).toBe(record.completed_at);
    expect(after.timings).toEqual(record.timings);
    expect(await fixture.store.readEvents(record.id)).toHaveLength(eventsBefore.length);
  });

  it('scores only the plan of a plan-only generation and only the images of a re-render', async () => {
    const planOnly = await succeeded('a yellow sun above the sea', { decode: false });
    const source = await succeeded('a purple box with "SALE"');
    const rerender = await succeeded('a purple box with "SALE"', { source: source.record });
    const [plan, render] = await Promise.all([
      scored(planOnly.record, (r) => r.quality?.plan !== undefined),
      scored(rerender.record, (r) => r.quality?.decode !== undefined),
    ]);
    expect(plan.quality?.decode).toBeUndefined();
    expect(render.quality?.plan).toBeUndefined();
    expect(render.quality?.decode?.outputs?.[0]?.spans?.[0]).toMatchObject({ text: 'SALE', cer: 0 });
  });

  it('scores every image of a generation of several and averages them', async () => {
    const { record } = await succeeded('a blue wall with "OPEN"', { n: 2 });
    const after = await scored(record, (r) => r.quality?.decode !== undefined);
    const decode = after.quality!.decode!;
    expect(decode.outputs?.map((o) => o.index)).toEqual([0, 1]);
    const mean = (decode.outputs![0]!.scores.colourfulness! + decode.outputs![1]!.scores.colourfulness!) / 2;
    expect(decode.scores.colourfulness).toBeCloseTo(mean, 10);
  });

  it('leaves a generation that did not succeed alone', async () => {
    const record = queuedRecord();
    await fixture.lifecycle.create(record, 0);
    await fixture.lifecycle.fail(record.id, { code: 'model_error', message: 'bad' });
    await evaluations.request(record);
    await expect
      .poll(async () => (await queue.getJob(evaluateJobId(record.id)))?.finishedOn, { timeout: 120_000 })
      .toBeDefined();
    const after = await fixture.store.get(record.id);
    expect(after?.status).toBe('failed');
    expect(after?.quality).toBeUndefined();
  });
});
