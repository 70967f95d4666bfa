import { createQueue, queueSettingsFromEnv } from '@glm-image/shared/queues';
import type { WebhookJobData } from '@glm-image/shared/webhooks/notifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';
import { submitBodyLimit } from './generations.ts';

let stack: ApiStack;
beforeAll(async () => {
  // Small reference images keep the largest submit body small.
  stack = await startApiStack({ env: { REFERENCE_IMAGE_MAX_BYTES: '65536' } });
});
afterAll(async () => {
  await stack?.close();
});

async function submit(body: Record<string, unknown>, key: 'acme' | 'globex' | 'admin' = 'acme') {
  return stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: stack.auth(key),
    payload: body,
  });
}

describe('POST /v1/generations', () => {
  it('queues a generation with the model pack defaults and a plan job at the tenant priority', async () => {
    const res = await submit({ prompt: 'a red "OPEN" sign', metadata: { order: 7 } });
    expect(res.statusCode).toBe(202);
    const body = res.json();
    expect(res.headers.location).toBe(`/v1/generations/${body.id}`);
    expect(body.status).toBe('queued');
    expect(body.input).toMatchObject({
      prompt: 'a red "OPEN" sign',
      width: 1024,
      height: 1024,
      steps: 50,
      guidance_scale: 1.5,
      temperature: 0.9,
      top_p: 0.75,
      n: 1,
      output_format: 'png',
    });
    expect(Number.isInteger(body.input.seed)).toBe(true);
    expect(body.metadata).toEqual({ order: 7 });
    expect(body.progress).toEqual({ stage: 'queued' });
    expect(body.outputs).toEqual([]);
    expect(body.queue_position).toBeGreaterThanOrEqual(1);
    expect(body.urls.self).toMatch(new RegExp(`/v1/generations/${body.id}$`));
    expect(body.urls.events).toBe(`${body.urls.self}/events`);
    const job = await stack.context.planQueue.getJob(body.id);
    expect(job?.data).toEqual({ generationId: body.id, tenant: 'acme' });
    expect(job?.opts.priority).toBe(5);
  });

  it('keeps the values a client gave, webhook events defaulting to the terminal ones', async () => {
    const res = await submit({
      prompt: 'x',
      width: 768,
      height: 512,
      seed: 42,
      steps: 4,
      guidance_scale: 0,
      n: 2,
      output_format: 'webp',
      webhook: { url: 'https://hooks.example.com/in' },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json().input).toMatchObject({
      width: 768,
      height: 512,
      seed: 42,
      steps: 4,
      guidance_scale: 0,
      n: 2,
      output_format: 'webp',
      webhook: {
        url: 'https://hooks.example.com/in',
        events: ['generation.succeeded', 'generation.failed', 'generation.canceled'],
      },
    });
  });

  it.each([
    ['prompt', {}],
    ['prompt', { prompt: '' }],
    ['colour', { prompt: 'x', colour: 'red' }],
    ['width', { prompt: 'x', width: 1000 }],
    ['width', { prompt: 'x', width: 4096 }],
    ['aspect ratio', { prompt: 'x', width: 2048, height: 512 }],
    ['seed', { prompt: 'x', seed: -1 }],
    ['seed', { prompt: 'x', seed: 2 ** 32 }],
    ['steps', { prompt: 'x', steps: 0 }],
    ['n', { prompt: 'x', n: 5 }],
    ['output_format', { prompt: 'x', output_format: 'gif' }],
    ['guidance_scale', { prompt: 'x', guidance_scale: 21 }],
    ['webhook.url', { prompt: 'x', webhook: { url: 'not a url' } }],
    [
      'webhook.events',
      { prompt: 'x', webhook: { url: 'https://a.example', events: ['generation.exploded'] } },
    ],
    ['metadata', { prompt: 'x', metadata: { blob: 'y'.repeat(5000) } }],
  ] as const)('answers 400 invalid_input naming %s', async (field, body) => {
    const res = await submit(body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('invalid_input');
    expect(res.json().error.message).toContain(field);
  });

  it('answers 400 for malformed JSON, 415 for other content types, 413 for oversized bodies', async () => {
    const malformed = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: { ...stack.auth('acme'), 'content-type': 'application/json' },
      payload: '{"prompt": ',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('invalid_input');

    const text = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: { ...stack.auth('acme'), 'content-type': 'text/plain' },
      payload: 'a cat',
    });
    expect(text.statusCode).toBe(415);
    expect(text.json().error.code).toBe('unsupported_media_type');

    // A submit may be as large as four inline reference images; past that it is refused unread.
    const limit = submitBodyLimit(stack.context.env.REFERENCE_IMAGE_MAX_BYTES);
    const huge = await submit({ prompt: 'x', metadata: { blob: 'y'.repeat(limit) } });
    expect(huge.statusCode).toBe(413);
    expect(huge.json().error.code).toBe('payload_too_large');
  });

  it('answers 401 without a key or with an unknown one', async () => {
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'Basic abc' }]) {
      const res = await stack.app.inject({
        method: 'POST',
        url: '/v1/generations',
        headers,
        payload: { prompt: 'x' },
      });
      expect(res.statusCode).toBe(401);
      expect(res.json().error.code).toBe('unauthorized');
      expect(res.headers['www-authenticate']).toBe('Bearer');
    }
  });
});

describe('reading generations', () => {
  it('shows a tenant its own generation and answers 404 to other tenants; admins see all', async () => {
    const { id } = (await submit({ prompt: 'mine' })).json();
    const own = await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('acme') });
    expect(own.statusCode).toBe(200);
    expect(own.json().id).toBe(id);
    const other = await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('globex') });
    expect(other.statusCode).toBe(404);
    expect(other.json().error.code).toBe('not_found');
    const admin = await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('admin') });
    expect(admin.statusCode).toBe(200);
    const unknown = await stack.app.inject({ url: '/v1/generations/gen_nope', headers: stack.auth('acme') });
    expect(unknown.statusCode).toBe(404);
  });

  it('lists only the caller’s generations, newest first, page by page', async () => {
    const ids: string[] = [];
    for (const prompt of ['one', 'two', 'three']) ids.push((await submit({ prompt }, 'globex')).json().id);
    const first = await stack.app.inject({ url: '/v1/generations?limit=2', headers: stack.auth('globex') });
    expect(first.statusCode).toBe(200);
    const page1 = first.json();
    expect(page1.items.map((g: { id: string }) => g.id)).toEqual([ids[2], ids[1]]);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const second = await stack.app.inject({
      url: `/v1/generations?limit=2&cursor=${encodeURIComponent(page1.next_cursor)}`,
      headers: stack.auth('globex'),
    });
    expect(second.json().items.map((g: { id: string }) => g.id)).toEqual([ids[0]]);
    expect(second.json().next_cursor).toBeNull();
    const bad = await stack.app.inject({ url: '/v1/generations?limit=0', headers: stack.auth('globex') });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.message).toContain('limit');
  });

  it('shows progress, preview and outputs with URLs, and streams outputs and the preview from S3', async () => {
    const { id } = (await submit({ prompt: 'streamed' })).json();
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const outputKey = `generations/acme/${id}/0.png`;
    const previewKey = `generations/acme/${id}/preview.png`;
    const stored = await stack.context.objects.put(outputKey, png, 'image/png');
    await stack.context.objects.put(previewKey, Buffer.from('preview-bytes'), 'image/png');
    await stack.advance(id, [
      ['planning', { progress: { stage: 'planning' } }],
      [
        'decoding',
        { preview: { key: previewKey, width: 128, height: 128 }, progress: { stage: 'decoding' } },
      ],
      [
        'succeeded',
        {
          outputs: [{ key: outputKey, width: 1024, height: 1024, format: 'png', ...stored }],
          timings: { plan_ms: 5 },
        },
      ],
    ]);
    const res = await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('acme') });
    const body = res.json();
    expect(body.status).toBe('succeeded');
    expect(body.outputs).toEqual([
      {
        url: `${body.urls.self}/outputs/0`,
        width: 1024,
        height: 1024,
        format: 'png',
        bytes: png.length,
        sha256: stored.sha256,
      },
    ]);
    expect(body.preview).toEqual({ url: `${body.urls.self}/preview`, width: 128, height: 128 });
    expect(body.queue_position).toBeUndefined();

    const output = await stack.app.inject({
      url: `/v1/generations/${id}/outputs/0`,
      headers: stack.auth('acme'),
    });
    expect(output.statusCode).toBe(200);
    expect(output.headers['content-type']).toBe('image/png');
    expect(output.rawPayload.equals(png)).toBe(true);
    const preview = await stack.app.inject({
      url: `/v1/generations/${id}/preview`,
      headers: stack.auth('acme'),
    });
    expect(preview.body).toBe('preview-bytes');
    const missing = await stack.app.inject({
      url: `/v1/generations/${id}/outputs/1`,
      headers: stack.auth('acme'),
    });
    expect(missing.statusCode).toBe(404);
    const foreign = await stack.app.inject({
      url: `/v1/generations/${id}/outputs/0`,
      headers: stack.auth('globex'),
    });
    expect(foreign.statusCode).toBe(404);
  });
});

describe('POST /v1/generations/{id}/cancel', () => {
  it('cancels a queued generation at once and removes its plan job', async () => {
    const { id } = (await submit({ prompt: 'never mind' })).json();
    expect(await stack.context.planQueue.getJob(id)).toBeDefined();
    const res = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: { ...stack.auth('acme'), 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().status).toBe('canceled');
    expect(await stack.context.planQueue.getJob(id)).toBeUndefined();
  });

  it('sends the generation.canceled webhook when it cancels a queued generation itself', async () => {
    const { id } = (
      await submit({ prompt: 'hooked', webhook: { url: 'https://hooks.example.com/x' } })
    ).json();
    await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: stack.auth('acme'),
    });
    const webhooks = createQueue<WebhookJobData>(
      'webhook',
      stack.context.redis,
      queueSettingsFromEnv(stack.context.env),
    );
    try {
      const job = await webhooks.getJob(`${id}-generation.canceled`);
      expect(job?.data).toMatchObject({
        generationId: id,
        event: 'generation.canceled',
        url: 'https://hooks.example.com/x',
      });
      expect(job?.data.record).toMatchObject({ id, status: 'canceled' });
    } finally {
      await webhooks.close();
    }
  });

  it('asks a running generation to stop and leaves a finished one as it was', async () => {
    const { id } = (await submit({ prompt: 'running' })).json();
    await stack.context.planQueue.remove(id); // as if a worker had taken it
    await stack.advance(id, [['planning']]);
    const running = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: stack.auth('acme'),
    });
    expect(running.json()).toMatchObject({ status: 'planning', cancel_requested: true });
    await stack.advance(id, [['failed', { error: { code: 'model_error', message: 'boom' } }]]);
    const finished = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: stack.auth('acme'),
    });
    expect(finished.statusCode).toBe(200);
    expect(finished.json()).toMatchObject({ status: 'failed', error: { code: 'model_error' } });
    const foreign = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${id}/cancel`,
      headers: stack.auth('globex'),
    });
    expect(foreign.statusCode).toBe(404);
  });
});

describe('Prefer: wait', () => {
  it('holds the response and answers 200 with the final object when the generation ends in time', async () => {
    const pending = stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: { ...stack.auth('acme'), prefer: 'wait=20' },
      payload: { prompt: 'quick' },
    });
    // The worker's part: find the plan job, then run the generation to the end.
    let jobId: string | undefined;
    while (!jobId) {
      const { items } = await stack.context.store.listByTenant('acme', { limit: 1 });
      if (items[0]?.input.prompt === 'quick') jobId = items[0].id;
      else await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await stack.context.planQueue.remove(jobId);
    await stack.advance(jobId, [['planning'], ['decoding'], ['succeeded']]);
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(res.headers['preference-applied']).toBe('wait=20');
    expect(res.json()).toMatchObject({ id: jobId, status: 'succeeded' });
  });

  it('answers 202 with the current state when the wait runs out', async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: { ...stack.auth('acme'), prefer: 'wait=1' },
      payload: { prompt: 'slow' },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json().status).toBe('queued');
  });
});
