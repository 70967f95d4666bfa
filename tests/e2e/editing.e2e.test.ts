/**
 * Image-to-image and plan-only generations through the whole system, over HTTP: an edit
 * judged on the image it returns, and a plan approved before the decoder runs, with the
 * workers' per-stage metrics showing which stage ran, webhooks for each ending and the
 * event stream of a plan-only generation.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SseEvent, sseEvents } from '../../apps/api/src/testing/sse-events.ts';
import {
  deliveredEventTypes,
  startTestReceiver,
  type TestReceiver,
} from '../../apps/api/src/testing/webhook-receiver.ts';
import { generateWebhookSecret } from '../../apps/api/src/webhooks/signing.ts';
import {
  colourRegion,
  discImage,
  dominantChannel,
  meanColour,
} from '../../packages/inference/src/testing/image-checks.ts';
import { type E2eSystem, type GenerationView, startSystem } from './harness.ts';

const SECRET = generateWebhookSecret();
let system: E2eSystem;
let hooks: TestReceiver;

beforeAll(async () => {
  system = await startSystem({
    env: { WEBHOOK_ALLOWLIST: '127.0.0.1', WEBHOOK_SECRETS: JSON.stringify({ e2e: SECRET }) },
  });
  hooks = await startTestReceiver();
});
afterAll(async () => {
  await hooks?.close();
  await system?.stop();
});

/** How many times a worker timed `stage` (glm_stage_duration_seconds_count), from its /metrics. */
async function stageCount(url: string, stage: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('glm_stage_duration_seconds_count{') && l.includes(`stage="${stage}"`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

async function stageCounts() {
  const { planners, decoders } = system.stack.metricsUrls;
  return { plan: await stageCount(planners[0]!, 'plan'), decode: await stageCount(decoders[0]!, 'decode') };
}

const DISC = { x: 0.66, y: 0.34, radius: 0.16 };

describe('editing a picture over HTTP', () => {
  it('"make the background green" keeps the disc where it was; without the reference, no disc', async () => {
    const { client } = system;
    const reference = await discImage({
      width: 512,
      height: 512,
      disc: DISC,
      fill: [220, 30, 30],
      background: [30, 70, 220],
    });
    const prompt = 'make the background green';
    const edit = await client.submit({
      prompt,
      width: 512,
      height: 512,
      steps: 4,
      seed: 11,
      reference_images: [`data:image/png;base64,${reference.toString('base64')}`],
    });
    const plain = await client.submit({ prompt, width: 512, height: 512, steps: 4, seed: 11 });

    const edited = await client.waitFor(edit.id);
    expect(edited.status, JSON.stringify(edited.error)).toBe('succeeded');
    const image = await client.download(edited.outputs[0]!.url);
    const red = await colourRegion(image, 'red');
    expect(red.centroid!.x).toBeCloseTo(DISC.x, 1);
    expect(red.centroid!.y).toBeCloseTo(DISC.y, 1);
    expect(red.fraction).toBeGreaterThan(0.05);
    for (const corner of [
      { x: 0, y: 0 },
      { x: 0.9, y: 0.9 },
      { x: 0, y: 0.9 },
    ]) {
      expect(dominantChannel(await meanColour(image, { ...corner, w: 0.1, h: 0.1 }))).toBe('green');
    }
    // The reference is kept with the generation, and served back as it was sent.
    const stored = (edited.input.reference_images as Array<{ url: string; sha256: string }>)[0]!;
    expect((await client.download(stored.url)).equals(reference)).toBe(true);

    const unedited = await client.waitFor(plain.id);
    expect(unedited.status).toBe('succeeded');
    const plainImage = await client.download(unedited.outputs[0]!.url);
    expect((await colourRegion(plainImage, 'red')).fraction).toBe(0);
    expect(dominantChannel(await meanColour(plainImage, { x: 0.6, y: 0.28, w: 0.12, h: 0.12 }))).toBe(
      'green',
    );

    // An edit of an edit: the output's own URL as the next reference.
    const again = await client.submit({
      prompt: 'make the circle yellow',
      width: 512,
      height: 512,
      steps: 4,
      reference_images: [edited.outputs[0]!.url],
    });
    const yellow = await client.download((await client.waitFor(again.id)).outputs[0]!.url);
    const [r, g, b] = await meanColour(yellow, { x: DISC.x - 0.04, y: DISC.y - 0.04, w: 0.08, h: 0.08 });
    expect(r).toBeGreaterThan(180);
    expect(g).toBeGreaterThan(180);
    expect(b).toBeLessThan(100);
  });
});

describe('a plan approved before the decoder runs', () => {
  it('plans only, then renders on request: each stage runs once, webhooks and events follow', async () => {
    const { client } = system;
    const webhook = { url: `${hooks.url}/hooks`, events: ['generation.planned', 'generation.succeeded'] };
    const before = await stageCounts();

    const submitted = await client.submit({
      prompt: 'a yellow triangle on a purple background',
      width: 512,
      height: 512,
      steps: 3,
      decode: false,
      webhook,
    });
    const events = await client.request(`/v1/generations/${submitted.id}/events`);
    const planOnly = await client.waitFor(submitted.id);
    expect(planOnly).toMatchObject({ status: 'succeeded', outputs: [], input: { decode: false } });
    expect(planOnly.preview).toBeDefined();
    const preview = await client.download(planOnly.preview!.url);
    expect((await sharp(preview).metadata()).format).toBe('png');
    expect(planOnly.timings.plan_ms).toBeGreaterThanOrEqual(0);
    expect(planOnly.timings.decode_ms).toBeUndefined();

    // The planner ran, the decoder did not.
    await expect.poll(async () => (await stageCounts()).plan, { timeout: 10_000 }).toBe(before.plan + 1);
    expect((await stageCounts()).decode).toBe(before.decode);
    // The stream told its stages and ended with its success.
    const told = (await sseEvents<GenerationView>(events.body!).rest()) as SseEvent<GenerationView>[];
    expect(told.map((e) => e.data.status)).toContain('planning');
    expect(told.at(-1)).toMatchObject({
      event: 'generation.succeeded',
      data: { status: 'succeeded', outputs: [] },
    });
    await expect
      .poll(() => deliveredEventTypes(hooks, SECRET, submitted.id), { timeout: 120_000 })
      .toEqual(['generation.planned', 'generation.succeeded']);

    // Approved: rendered twice, with other seeds. The decoder runs, the planner does not.
    const renders: GenerationView[] = [];
    for (const seed of [1, 2]) {
      const res = await client.request(`/v1/generations/${submitted.id}/renders`, {
        method: 'POST',
        body: JSON.stringify({ seed, webhook: { url: webhook.url } }),
      });
      expect(res.status).toBe(202);
      renders.push((await res.json()) as GenerationView);
    }
    const done = await Promise.all(renders.map((r) => client.waitFor(r.id)));
    for (const render of done) {
      expect(render).toMatchObject({ status: 'succeeded', input: { source_generation_id: submitted.id } });
      expect(render.outputs).toHaveLength(1);
      const image = await client.download(render.outputs[0]!.url);
      // The planned purple background: red and blue, little green.
      const [r, g, b] = await meanColour(image, { x: 0, y: 0, w: 0.1, h: 0.1 });
      expect(Math.min(r, b)).toBeGreaterThan(g + 60);
      await expect
        .poll(() => deliveredEventTypes(hooks, SECRET, render.id), { timeout: 120_000 })
        .toEqual(['generation.succeeded']);
    }
    expect(done[0]!.outputs[0]!.sha256).not.toBe(done[1]!.outputs[0]!.sha256);
    const after = await stageCounts();
    expect(after.plan).toBe(before.plan + 1);
    expect(after.decode).toBe(before.decode + 2);
  });
});
