/**
 * The client SDK against the whole system (API, planner and decoder processes on a real
 * Redis and S3 server): a generation followed over Server-Sent Events to its images,
 * the same by polling, a stream cut mid-way and resumed, pagination, re-renders, cancels,
 * typed errors, webhook deliveries verified with the SDK's helper, feedback (replayed under
 * its Idempotency-Key), the training export read across pages and across a cut, an edit
 * of a picture sent as a reference, and a plan-only generation approved and decoded.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestReceiver } from '../../apps/api/src/testing/webhook-receiver.ts';
import { generateWebhookSecret } from '../../apps/api/src/webhooks/signing.ts';
import {
  AuthenticationError,
  BadRequestError,
  ConflictError,
  type CreateFeedbackRequest,
  type GenerationUpdate,
  GlmImageClient,
  NotFoundError,
  PermissionDeniedError,
  type RetryEvent,
  referenceImage,
  type TrainingRow,
  verifyWebhook,
  WebhookVerificationError,
} from '../../packages/client/src/index.ts';
import {
  colourRegion,
  discImage,
  dominantChannel,
  meanColour,
} from '../../packages/inference/src/testing/image-checks.ts';
import { TrainingRowSchema } from '../../packages/shared/src/training-export.ts';
import { startFaultProxy } from '../support/fault-proxy.ts';
import { API_KEY, type E2eSystem, startSystem } from './harness.ts';

const SECRET = generateWebhookSecret();
const ADMIN_KEY = 'e2e-admin-key-0123456789abcdef';
let system: E2eSystem;
let client: GlmImageClient;
let admin: GlmImageClient;

beforeAll(async () => {
  const hash = (key: string) => createHash('sha256').update(key).digest('hex');
  system = await startSystem({
    env: {
      WEBHOOK_ALLOWLIST: '127.0.0.1',
      WEBHOOK_SECRETS: JSON.stringify({ e2e: SECRET }),
      API_KEYS: JSON.stringify([
        { sha256: hash(API_KEY), tenant: 'e2e', rate_per_minute: 100_000 },
        { sha256: hash(ADMIN_KEY), tenant: 'e2e', admin: true, rate_per_minute: 100_000 },
      ]),
    },
  });
  client = new GlmImageClient({ baseUrl: system.stack.apiUrl, apiKey: API_KEY });
  admin = new GlmImageClient({ baseUrl: system.stack.apiUrl, apiKey: ADMIN_KEY });
});
afterAll(async () => {
  await system?.stop();
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const small = { width: 512, height: 512, steps: 4 } as const;

/** Every row an export gives, each checked against the row schema the API builds them with. */
async function collect(rows: AsyncIterable<TrainingRow>): Promise<TrainingRow[]> {
  const seen: TrainingRow[] = [];
  for await (const row of rows) {
    TrainingRowSchema.parse(row);
    seen.push(row);
  }
  return seen;
}

describe('the client SDK', () => {
  it('follows a generation over Server-Sent Events and downloads its preview and image', async () => {
    const submitted = await client.submit({ prompt: 'a red circle on a blue background', ...small, seed: 5 });
    expect(submitted.status).toBe('queued');
    const updates: GenerationUpdate[] = [];
    const final = await client.wait(submitted.id, { onUpdate: (update) => updates.push(update) });

    expect(final.status, JSON.stringify(final.error)).toBe('succeeded');
    const events = updates.map((update) => update.event);
    expect(events).toContain('preview');
    expect(events.at(-1)).toBe('generation.succeeded');
    expect(updates.every((update) => update.id !== undefined)).toBe(true);

    const output = await client.downloadOutput(final.id, 0);
    expect(output.contentType).toBe('image/png');
    expect(sha256(output.bytes)).toBe(final.outputs[0]!.sha256);
    expect((await client.download(final.outputs[0]!.url)).bytes).toEqual(output.bytes);
    const preview = await client.downloadPreview(final.id);
    expect((await sharp(preview.bytes).metadata()).format).toBe('png');
  });

  it('polls to the same end when asked to', async () => {
    const submitted = await client.submit({ prompt: 'a yellow square', ...small });
    const polled: string[] = [];
    const final = await client.wait(submitted.id, {
      transport: 'poll',
      pollIntervalMs: 100,
      onUpdate: (update) => polled.push(update.event),
    });
    expect(final.status).toBe('succeeded');
    expect(new Set(polled)).toEqual(new Set(['poll']));
  });

  it('resumes a cut event stream after the last event it saw, missing nothing', async () => {
    // Every events connection is cut right after its first event: the client must
    // reconnect with Last-Event-ID each time and still see the generation to its end.
    const proxy = await startFaultProxy(system.stack.apiUrl, (request) =>
      request.url?.includes('/events') ? 'cut-after-first-event' : null,
    );
    try {
      const flaky = new GlmImageClient({
        baseUrl: proxy.url,
        apiKey: API_KEY,
        // No reconnection delay: the test is about what is resumed, not when.
        retry: { sleep: () => new Promise((resolve) => setImmediate(resolve)) },
      });
      const submitted = await flaky.submit({ prompt: 'a green circle', ...small });
      const ids: string[] = [];
      const final = await flaky.wait(submitted.id, {
        onUpdate: (update) => ids.push(update.id!),
      });
      expect(final.status).toBe('succeeded');
      expect(proxy.requests.filter((request) => request.includes('/events')).length).toBeGreaterThan(1);
      // Stream ids only grow: nothing was delivered twice.
      const order = (id: string) => id.split('-').map(Number) as [number, number];
      for (let i = 1; i < ids.length; i += 1) {
        const [a, b] = [order(ids[i - 1]!), order(ids[i]!)];
        expect(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]), `${ids[i - 1]} then ${ids[i]}`).toBe(true);
      }
    } finally {
      await proxy.close();
    }
  });

  it('falls back to polling when the event stream delivers nothing', async () => {
    const proxy = await startFaultProxy(system.stack.apiUrl, (request) =>
      request.url?.includes('/events') ? 'swallow-body' : null,
    );
    try {
      const buffered = new GlmImageClient({ baseUrl: proxy.url, apiKey: API_KEY });
      const submitted = await buffered.submit({ prompt: 'an orange circle', ...small });
      const fellBack: string[] = [];
      const events: string[] = [];
      const final = await buffered.wait(submitted.id, {
        pollIntervalMs: 100,
        onFallback: (reason) => fellBack.push(reason.message),
        onUpdate: (update) => events.push(update.event),
      });
      expect(final.status).toBe('succeeded');
      expect(fellBack).toHaveLength(1);
      expect(events.at(-1)).toBe('poll');
    } finally {
      await proxy.close();
    }
  });

  it('pages through the caller’s generations, newest first', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) ids.push((await client.submit({ prompt: `page ${i}`, ...small })).id);
    const firstPage = await client.list({ limit: 2 });
    expect(firstPage.items).toHaveLength(2);
    expect(firstPage.next_cursor).not.toBeNull();
    const all: string[] = [];
    for await (const generation of client.listAll({ pageSize: 2 })) all.push(generation.id);
    expect(new Set(all).size).toBe(all.length);
    expect(all.slice(0, 3)).toEqual([...ids].reverse());
    await Promise.all(ids.map((id) => client.wait(id)));
  });

  it('renders a finished generation again and cancels a queued one', async () => {
    const source = await client.wait((await client.submit({ prompt: 'a purple square', ...small })).id);
    const render = await client.render(source.id, { seed: 99, output_format: 'webp' });
    expect(render.input.source_generation_id).toBe(source.id);
    const rendered = await client.wait(render.id);
    expect(rendered.status).toBe('succeeded');
    expect((await client.downloadOutput(render.id, 0)).contentType).toBe('image/webp');

    const big = await client.submit({ prompt: 'a grey circle', width: 2048, height: 2048, steps: 80 });
    const canceled = await client.cancel(big.id);
    expect(['canceled', 'planning', 'decoding', 'queued']).toContain(canceled.status);
    expect((await client.wait(big.id)).status).toBe('canceled');
  });

  it('throws typed errors carrying the API code', async () => {
    await expect(client.get('no-such-generation')).rejects.toMatchObject({
      constructor: NotFoundError,
      status: 404,
      code: 'not_found',
    });
    await expect(client.submit({ prompt: '' })).rejects.toMatchObject({
      constructor: BadRequestError,
      code: 'invalid_input',
      message: expect.stringContaining('prompt'),
    });
    const stranger = new GlmImageClient({ baseUrl: system.stack.apiUrl, apiKey: 'not-a-key-0123456789' });
    await expect(stranger.list()).rejects.toBeInstanceOf(AuthenticationError);

    const key = `conflict-${Date.now()}`;
    const first = await client.submit({ prompt: 'a white circle', ...small }, { idempotencyKey: key });
    const again = await client.submit({ prompt: 'a white circle', ...small }, { idempotencyKey: key });
    expect(again.id).toBe(first.id);
    await expect(
      client.submit({ prompt: 'a black circle', ...small }, { idempotencyKey: key }),
    ).rejects.toMatchObject({ constructor: ConflictError, code: 'idempotency_conflict' });
    await client.wait(first.id);
  });

  it('verifies the webhooks the API delivers, and rejects a tampered one', async () => {
    const receiver = await startTestReceiver();
    try {
      const submitted = await client.submit({
        prompt: 'a blue square',
        ...small,
        webhook: { url: `${receiver.url}/hooks`, events: ['generation.succeeded'] },
      });
      await client.wait(submitted.id);
      await expect.poll(() => receiver.requests.length, { timeout: 120_000 }).toBe(1);
      const delivery = receiver.requests[0]!;
      const event = verifyWebhook(SECRET, delivery.body, delivery.headers);
      expect(event.type).toBe('generation.succeeded');
      expect(event.data.id).toBe(submitted.id);
      expect(event.data.outputs).toHaveLength(1);

      const tampered = delivery.body.replace(submitted.id, 'gen_forged');
      expect(() => verifyWebhook(SECRET, tampered, delivery.headers)).toThrow(WebhookVerificationError);
      expect(() => verifyWebhook(generateWebhookSecret(), delivery.body, delivery.headers)).toThrow(
        WebhookVerificationError,
      );
    } finally {
      await receiver.close();
    }
  });

  describe('feedback and the training export', () => {
    let rated = '';

    it('gives feedback, replays it under the same Idempotency-Key, refuses another body under it', async () => {
      const done = await client.wait(
        (await client.submit({ prompt: 'a white card with "OK"', ...small, n: 2, seed: 31 })).id,
      );
      expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
      rated = done.id;
      const body: CreateFeedbackRequest = {
        stage: 'decode',
        rating: 4,
        labels: ['artifacts'],
        comment: 'a smudge',
      };
      const first = await client.feedback(rated, body, { idempotencyKey: 'sdk-feedback-1' });
      expect(first).toMatchObject({ id: expect.stringMatching(/^fb_/), ...body });
      expect(await client.feedback(rated, body, { idempotencyKey: 'sdk-feedback-1' })).toEqual(first);
      await expect(
        client.feedback(rated, { stage: 'decode', rating: 1 }, { idempotencyKey: 'sdk-feedback-1' }),
      ).rejects.toMatchObject({ constructor: ConflictError, code: 'idempotency_conflict' });

      // Without a key of its own, each call gets a fresh one: two calls, two pieces of feedback.
      const preferred = await client.feedback(rated, { stage: 'decode', preferred_output: 1 });
      const layout = await client.feedback(rated, { stage: 'plan', labels: ['layout_wrong'] });
      const generation = await client.get(rated);
      expect(generation.feedback?.map((entry) => entry.id)).toEqual([first.id, preferred.id, layout.id]);

      await expect(client.feedback(rated, { rating: 9 })).rejects.toMatchObject({
        constructor: BadRequestError,
        code: 'invalid_input',
        message: expect.stringContaining('rating'),
      });
      await expect(client.feedback('no-such-generation', { rating: 3 })).rejects.toBeInstanceOf(
        NotFoundError,
      );
    });

    it('exports the rows of each stage across pages, from a cursor, up to a limit (admin keys)', async () => {
      const decode = await collect(admin.exportTraining({ stage: 'decode', pageSize: 1 }));
      expect(decode.map((row) => row.id)).toEqual([
        `decode:${rated}`,
        `decode_preference:choice:${rated}:0:1`,
      ]);
      const [row, pair] = decode;
      if (row?.kind !== 'decode' || pair?.kind !== 'decode_preference') throw new Error('unexpected rows');
      expect(row.feedback.map((entry) => entry.rating ?? entry.preferred_output)).toEqual([4, 1]);
      expect(row.glyph_text).toEqual(['OK']);
      expect(row.images.map((image) => image.seed)).toEqual([31, 32]);
      expect([pair.chosen.index, pair.rejected.index]).toEqual([1, 0]);

      const plan = await collect(admin.exportTraining({ stage: 'plan' }));
      expect(plan.map((entry) => entry.id)).toEqual([`plan:${rated}`]);
      if (plan[0]?.kind !== 'plan') throw new Error('not a plan row');
      expect(plan[0].feedback.map((entry) => entry.labels)).toEqual([['layout_wrong']]);

      const first = await collect(admin.exportTraining({ stage: 'decode', limit: 1 }));
      expect(first).toEqual(decode.slice(0, 1));
      expect(await collect(admin.exportTraining({ stage: 'decode', cursor: first[0]!.cursor }))).toEqual(
        decode.slice(1),
      );
      const later = new Date(Date.now() + 3_600_000);
      expect(await collect(admin.exportTraining({ stage: 'decode', since: later }))).toEqual([]);

      await expect(collect(client.exportTraining({ stage: 'plan' }))).rejects.toMatchObject({
        constructor: PermissionDeniedError,
        code: 'forbidden',
      });
      await expect(collect(admin.exportTraining({ stage: 'decode', cursor: 'bogus' }))).rejects.toMatchObject(
        {
          constructor: BadRequestError,
          message: expect.stringContaining('cursor'),
        },
      );
    });

    it('resumes an export cut in the middle of a row after the last whole row, losing and repeating none', async () => {
      const whole = await collect(admin.exportTraining({ stage: 'decode' }));
      let exports = 0;
      const proxy = await startFaultProxy(system.stack.apiUrl, (request) =>
        request.url?.startsWith('/v1/feedback/export') && exports++ === 0 ? 'cut-mid-line' : null,
      );
      try {
        const retries: RetryEvent[] = [];
        const flaky = new GlmImageClient({
          baseUrl: proxy.url,
          apiKey: ADMIN_KEY,
          retry: {
            sleep: () => new Promise((resolve) => setImmediate(resolve)),
            onRetry: (retry) => retries.push(retry),
          },
        });
        expect(await collect(flaky.exportTraining({ stage: 'decode' }))).toEqual(whole);
        expect(retries).toHaveLength(1);
        const requests = proxy.requests.filter((request) => request.includes('/v1/feedback/export'));
        expect(requests).toHaveLength(2);
        // The second request starts after the one row the cut stream delivered whole.
        expect(requests[1]).toContain(`cursor=${encodeURIComponent(whole[0]!.cursor)}`);
      } finally {
        await proxy.close();
      }
    });
  });

  describe('editing and plans approved before decoding', () => {
    it('edits a picture sent as a reference, and gives the reference back as it was sent', async () => {
      const disc = { x: 0.66, y: 0.34, radius: 0.16 };
      const picture = await discImage({
        width: 512,
        height: 512,
        disc,
        fill: [220, 30, 30],
        background: [30, 70, 220],
      });
      const submitted = await client.submit({
        prompt: 'make the background green',
        ...small,
        seed: 11,
        reference_images: [referenceImage(picture)],
      });
      expect(submitted.input.reference_images).toHaveLength(1);
      const edited = await client.wait(submitted.id);
      expect(edited.status, JSON.stringify(edited.error)).toBe('succeeded');

      // The disc stays where the reference had it; the background turned green.
      const image = Buffer.from((await client.downloadOutput(edited.id, 0)).bytes);
      const red = await colourRegion(image, 'red');
      expect(red.centroid!.x).toBeCloseTo(disc.x, 1);
      expect(red.centroid!.y).toBeCloseTo(disc.y, 1);
      expect(dominantChannel(await meanColour(image, { x: 0, y: 0.9, w: 0.1, h: 0.1 }))).toBe('green');

      const stored = await client.downloadReference(edited.id, 0);
      expect(stored.contentType).toBe('image/png');
      expect(Buffer.from(stored.bytes).equals(picture)).toBe(true);
      await expect(client.downloadReference(edited.id, 1)).rejects.toBeInstanceOf(NotFoundError);
    });

    it('waits for a plan-only generation to its preview, then approves it and waits for the image', async () => {
      const planned = await client.submit({
        prompt: 'a yellow triangle on a purple background',
        ...small,
        decode: false,
      });
      const updates: GenerationUpdate[] = [];
      const plan = await client.wait(planned.id, { onUpdate: (update) => updates.push(update) });
      expect(plan).toMatchObject({ status: 'succeeded', outputs: [], input: { decode: false } });
      expect(updates.at(-1)?.event).toBe('generation.succeeded');
      const preview = await client.downloadPreview(plan.id);
      expect((await sharp(Buffer.from(preview.bytes)).metadata()).format).toBe('png');
      await expect(client.downloadOutput(plan.id, 0)).rejects.toBeInstanceOf(NotFoundError);

      const approved = await client.approve(plan.id, { seed: 3 });
      expect(approved.input).toMatchObject({ source_generation_id: plan.id, seed: 3 });
      const decoded = await client.wait(approved.id);
      expect(decoded.status, JSON.stringify(decoded.error)).toBe('succeeded');
      expect(decoded.outputs).toHaveLength(1);
      const image = Buffer.from((await client.downloadOutput(decoded.id, 0)).bytes);
      // The planned purple background: red and blue, little green.
      const [r, g, b] = await meanColour(image, { x: 0, y: 0, w: 0.1, h: 0.1 });
      expect(Math.min(r, b)).toBeGreaterThan(g + 60);
      // Approved again: another render of the same plan.
      const again = await client.wait((await client.approve(plan.id, { seed: 4 })).id);
      expect(again.status).toBe('succeeded');
      expect(again.outputs[0]!.sha256).not.toBe(decoded.outputs[0]!.sha256);
    });

    it('refuses an approval of a plan that does not exist', async () => {
      await expect(client.approve('no-such-generation')).rejects.toBeInstanceOf(NotFoundError);
    });
  });
});
