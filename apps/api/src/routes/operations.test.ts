import { tokensKey } from '@glm-image/shared/storage';
import { encodeStoredPlan } from '@glm-image/shared/tokens';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';

/** Probes, metrics, the OpenAPI document, and re-renders from stored tokens. */

let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack();
});
afterAll(async () => {
  await stack?.close();
});

describe('operations', () => {
  it('serves the OpenAPI document and the docs UI without a key', async () => {
    const res = await stack.app.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/v1/generations',
        '/v1/generations/{id}',
        '/v1/generations/{id}/cancel',
        '/v1/generations/{id}/events',
        '/v1/generations/{id}/outputs/{index}',
        '/v1/generations/{id}/references/{index}',
        '/v1/generations/{id}/renders',
      ]),
    );
    const submit = doc.paths['/v1/generations'].post;
    const bodyRef: string = submit.requestBody.content['application/json'].schema.$ref;
    const body = doc.components.schemas[bodyRef.split('/').pop()!];
    expect(body.properties.prompt.maxLength).toBe(4000);
    expect(body.properties.reference_images).toMatchObject({ type: 'array', maxItems: 4 });
    expect(body.properties.reference_images.description).toContain('data:');
    expect(body.properties.decode).toMatchObject({ type: 'boolean' });
    expect(body.properties.decode.description).toContain('renders');
    expect(submit.description).toContain('reference_images');
    expect(doc.components.securitySchemes.bearerAuth.scheme).toBe('bearer');
    const docs = await stack.app.inject({ url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toContain('text/html');
  });

  it('reports healthy and ready, then not ready (503) while the object store is down', async () => {
    expect((await stack.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await stack.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    await stack.s3.pause();
    try {
      const down = await stack.app.inject({ url: '/readyz' });
      expect(down.statusCode).toBe(503);
      expect(down.json().error).toEqual({
        code: 'service_unavailable',
        message: expect.stringContaining('object store'),
      });
      expect((await stack.app.inject({ url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await stack.s3.restart();
    }
    expect((await stack.app.inject({ url: '/readyz' })).statusCode).toBe(200);
  });

  it('exposes Prometheus metrics including queue depth', async () => {
    await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('acme'),
      payload: { prompt: 'm' },
    });
    const res = await stack.app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.body).toMatch(/glm_queue_jobs\{[^}]*queue="plan"[^}]*state="prioritized"[^}]*\} 1/);
    // Requests are counted by route template, not by raw URL.
    expect(res.body).toMatch(
      /glm_http_request_duration_seconds_count\{[^}]*method="POST"[^}]*route="\/v1\/generations"[^}]*status="202"[^}]*\} 1/,
    );
  });

  it('answers JSON 404 for unknown routes', async () => {
    const res = await stack.app.inject({ url: '/v2/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
  });
});

describe('POST /v1/generations/{id}/renders', () => {
  async function finishedSource(): Promise<string> {
    const created = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('acme'),
      payload: { prompt: 'a "SALE" poster', width: 512, height: 1024, seed: 3 },
    });
    const id: string = created.json().id;
    await stack.context.planQueue.remove(id);
    const tokens = Array.from({ length: 16 * 32 }, (_, i) => i % 97);
    // The stored plan, as the planner writes it.
    await stack.context.objects.put(
      tokensKey('acme', id),
      encodeStoredPlan({
        preview: { rows: 2, cols: 1, tokens: [1, 2] },
        main: { rows: 32, cols: 16, tokens },
      }),
      'application/json',
    );
    return id;
  }

  it('queues a decode job from the stored tokens under a new, linked generation', async () => {
    const source = await finishedSource();
    await stack.advance(source, [['planning'], ['decoding'], ['succeeded']]);
    const res = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${source}/renders`,
      headers: stack.auth('acme'),
      payload: { seed: 9, steps: 8, width: 1024, height: 2048, output_format: 'jpeg' },
    });
    expect(res.statusCode).toBe(202);
    const render = res.json();
    expect(res.headers.location).toBe(`/v1/generations/${render.id}`);
    expect(render.id).not.toBe(source);
    expect(render.input).toMatchObject({
      prompt: 'a "SALE" poster',
      width: 1024,
      height: 2048,
      seed: 9,
      steps: 8,
      output_format: 'jpeg',
      source_generation_id: source,
    });
    const job = await stack.context.decodeQueue.getJob(`${render.id}-decode`);
    expect(job?.data).toMatchObject({
      generationId: render.id,
      tenant: 'acme',
      main: { rows: 32, cols: 16 },
    });
    expect(job?.data.main.tokens).toHaveLength(512);
    expect(await stack.context.planQueue.getJob(render.id)).toBeUndefined();

    const canceled = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${render.id}/cancel`,
      headers: stack.auth('acme'),
    });
    expect(canceled.json().status).toBe('canceled');
    expect(await stack.context.decodeQueue.getJob(`${render.id}-decode`)).toBeUndefined();
  });

  it('refuses sources that have not succeeded, other aspect ratios and other tenants', async () => {
    const source = await finishedSource();
    const early = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${source}/renders`,
      headers: stack.auth('acme'),
    });
    expect(early.statusCode).toBe(409);
    expect(early.json().error.code).toBe('source_not_renderable');
    await stack.advance(source, [['planning'], ['decoding'], ['succeeded']]);
    const squashed = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${source}/renders`,
      headers: stack.auth('acme'),
      payload: { width: 1024, height: 1024 },
    });
    expect(squashed.statusCode).toBe(400);
    expect(squashed.json().error.message).toContain('aspect ratio');
    const foreign = await stack.app.inject({
      method: 'POST',
      url: `/v1/generations/${source}/renders`,
      headers: stack.auth('globex'),
    });
    expect(foreign.statusCode).toBe(404);
  });
});
