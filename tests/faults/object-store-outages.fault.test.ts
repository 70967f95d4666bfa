/**
 * The object store goes away while generations decode. The images already rendered are
 * kept and stored once the store is back, and never rendered again: the decoder's own
 * account of its renders (the `decode` stage count on its /metrics) grows by exactly one
 * per image, through a short outage and through one that outlasts every retry the store
 * client and the job queue make. Past STORAGE_UNAVAILABLE_AFTER_MS the generation ends
 * `failed` with `storage_unavailable`, still rendered once, and the system serves on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiClient, type E2eSystem, type GenerationView, startSystem } from '../e2e/harness.ts';
import { imagesRendered, metricValue, workerReady } from './support/worker-metrics.ts';

/** Slow enough to render that the store can be taken away before the upload. */
const GENERATION = { prompt: 'a harbour in fog', width: 1024, height: 1024, steps: 40 };
/** Tries per job the stack runs with (JOB_ATTEMPTS' default): the retries an outage must outlast. */
const JOB_ATTEMPTS = 3;

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function unreachableRounds(system: E2eSystem): Promise<number> {
  return metricValue(system.stack.metricsUrls.decoders[0]!, 'glm_upload_store_unreachable_total');
}

async function until(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await pause(100);
}

/** Planned (tokens and preview stored), so the outage meets only the decoder's uploads. */
async function waitUntilPlanned(client: ApiClient, ids: string[]): Promise<void> {
  await until(async () => {
    const views = await Promise.all(ids.map((id) => client.get(id)));
    return views.every((g) => g.status === 'decoding');
  });
}

async function expectStoredOutputs(client: ApiClient, generation: GenerationView): Promise<void> {
  expect(generation.status, JSON.stringify(generation.error)).toBe('succeeded');
  expect(generation.outputs).toHaveLength(1);
  const image = await client.download(generation.outputs[0]!.url);
  expect(image.byteLength).toBe(generation.outputs[0]!.bytes);
}

describe('within STORAGE_UNAVAILABLE_AFTER_MS (its default)', () => {
  let system: E2eSystem;
  beforeAll(async () => {
    system = await startSystem();
    await workerReady(system.stack.metricsUrls.decoders[0]!);
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('a short outage: the upload waits it out and the image is rendered once', async () => {
    const { client, s3 } = system;
    const decoder = system.stack.metricsUrls.decoders[0]!;
    const renderedBefore = await imagesRendered(decoder);
    const submitted = await client.submit({ ...GENERATION, seed: 1 });
    await client.waitFor(submitted.id, (g) => g.status === 'decoding' && (g.progress.step ?? 0) >= 1);
    await s3.pause();
    // The store is away when the upload begins; it is back before the store client's retries run out.
    await client.waitFor(submitted.id, (g) => g.progress.stage === 'uploading' || g.status !== 'decoding');
    await s3.restart();

    const final = await client.waitFor(submitted.id, undefined, 300_000);
    await expectStoredOutputs(client, final);
    expect(await imagesRendered(decoder)).toBe(renderedBefore + 1);
  });

  it('an outage past every retry: rendered images are kept and stored when the store returns', async () => {
    const { client, s3 } = system;
    const decoder = system.stack.metricsUrls.decoders[0]!;
    const renderedBefore = await imagesRendered(decoder);
    const roundsBefore = await unreachableRounds(system);
    const submitted = await Promise.all([11, 12, 13].map((seed) => client.submit({ ...GENERATION, seed })));
    const ids = submitted.map((g) => g.id);
    await waitUntilPlanned(client, ids);
    await s3.pause();

    // As many failed upload rounds (each with the store client's own retries) as the job
    // has attempts: before, the job would have failed that often and rendered each time.
    await until(async () => (await unreachableRounds(system)) - roundsBefore >= JOB_ATTEMPTS);
    const during = await Promise.all(ids.map((id) => client.get(id)));
    expect(during.filter((g) => g.status === 'failed')).toEqual([]);
    await s3.restart();

    const finals = await Promise.all(ids.map((id) => client.waitFor(id, undefined, 600_000)));
    for (const final of finals) await expectStoredOutputs(client, final);
    expect(await imagesRendered(decoder)).toBe(renderedBefore + ids.length);
    console.info(
      `object store outage: ${(await unreachableRounds(system)) - roundsBefore} upload rounds found it away; ` +
        `${ids.length} generations succeeded, ${ids.length} images rendered`,
    );
  });
});

describe('past STORAGE_UNAVAILABLE_AFTER_MS', () => {
  let system: E2eSystem;
  beforeAll(async () => {
    system = await startSystem({ decoderEnv: { STORAGE_UNAVAILABLE_AFTER_MS: '1000' } });
    await workerReady(system.stack.metricsUrls.decoders[0]!);
  });
  afterAll(async () => {
    await system?.stop();
  });

  it('the generation fails as storage_unavailable, rendered once, and the system serves on', async () => {
    const { client, s3 } = system;
    const decoder = system.stack.metricsUrls.decoders[0]!;
    const renderedBefore = await imagesRendered(decoder);
    const submitted = await client.submit({ ...GENERATION, seed: 21 });
    await client.waitFor(submitted.id, (g) => g.status === 'decoding' && (g.progress.step ?? 0) >= 1);
    await s3.pause();

    const final = await client.waitFor(submitted.id, undefined, 300_000);
    expect(final.status).toBe('failed');
    expect(final.error?.code).toBe('storage_unavailable');
    expect(final.outputs).toEqual([]);
    // Failed for good: not handed to another attempt that would render it again.
    expect(await imagesRendered(decoder)).toBe(renderedBefore + 1);
    const failedWith = await metricValue(decoder, 'glm_generations_total', {
      status: 'failed',
      code: 'storage_unavailable',
    });
    expect(failedWith).toBe(1);

    await s3.restart();
    const next = await client.submit({ ...GENERATION, width: 512, height: 512, steps: 4, seed: 22 });
    await expectStoredOutputs(client, await client.waitFor(next.id, undefined, 300_000));
    expect(await imagesRendered(decoder)).toBe(renderedBefore + 2);
  });
});
