/**
 * Real answers of the whole system checked against the OpenAPI document it serves:
 * every operation's success, and the errors each can answer (bad input, no key, unknown
 * ids, conflicts, oversized and non-JSON bodies, rate limits, Redis down), with their
 * status codes, headers and bodies. A status, header or field the API sends that the
 * document does not declare fails here, and so does one the document requires but the
 * API leaves out.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, type E2eSystem, startSystem } from '../e2e/harness.ts';
import { checkAnswer, type RecordedAnswer } from './document-check.ts';
import type { Schema } from './json-schema.ts';

const TIGHT_KEY = 'contract-tight-key-0123456789';
/** Small reference images, so that a submit over its limit is not a large upload. */
const REFERENCE_IMAGE_MAX_BYTES = 64 * 1024;
/** Past the submit limit: 1 MiB, plus four reference images as base64. */
const OVERSIZED_SUBMIT = 1024 * 1024 + 4 * Math.ceil(REFERENCE_IMAGE_MAX_BYTES / 3) * 4 + 1;
const ADMIN_KEY = 'contract-admin-key-0123456789';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let system: E2eSystem;
let document: Schema;
const answers: RecordedAnswer[] = [];

beforeAll(async () => {
  system = await startSystem({
    env: {
      API_KEYS: JSON.stringify([
        { sha256: sha256(API_KEY), tenant: 'e2e', rate_per_minute: 100_000 },
        // One write a minute: the second is answered 429.
        { sha256: sha256(TIGHT_KEY), tenant: 'tight', rate_per_minute: 1 },
        { sha256: sha256(ADMIN_KEY), tenant: 'e2e', admin: true, rate_per_minute: 100_000 },
      ]),
      REFERENCE_IMAGE_MAX_BYTES: String(REFERENCE_IMAGE_MAX_BYTES),
    },
  });
  document = (await (await fetch(`${system.stack.apiUrl}/openapi.json`)).json()) as Schema;
});
afterAll(async () => {
  await system?.stop();
});

interface Call {
  status: number;
  headers: Headers;
  text: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are checked against the document, not typed here.
  json: () => any;
}

/** Sends a request and records the answer under its path template. */
async function call(
  method: string,
  path: string,
  url: string,
  options: { key?: string | null; body?: string; headers?: Record<string, string> } = {},
): Promise<Call> {
  const headers: Record<string, string> = { ...options.headers };
  const key = options.key === undefined ? API_KEY : options.key;
  if (key) headers['authorization'] = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${system.stack.apiUrl}${url}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: options.body } : {}),
  });
  const body = new Uint8Array(await response.arrayBuffer());
  answers.push({ method, path, status: response.status, headers: response.headers, body });
  const text = Buffer.from(body).toString('utf8');
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

const submit = (body: object, headers: Record<string, string> = {}, key?: string) =>
  call('POST', '/v1/generations', '/v1/generations', {
    body: JSON.stringify(body),
    headers,
    ...(key ? { key } : {}),
  });

async function untilEnded(id: string) {
  await expect
    .poll(async () => (await call('GET', '/v1/generations/{id}', `/v1/generations/${id}`)).json().status, {
      timeout: 120_000,
      interval: 100,
    })
    .toMatch(/^(succeeded|failed|canceled)$/);
}

describe('real answers against the OpenAPI document', () => {
  it('matches the document for every operation, its successes and its errors', async () => {
    // Probes.
    expect((await call('GET', '/healthz', '/healthz', { key: null })).status).toBe(200);
    expect((await call('GET', '/readyz', '/readyz', { key: null })).status).toBe(200);
    expect((await call('GET', '/metrics', '/metrics', { key: null })).status).toBe(200);

    // Submit: 202, a replay under the same Idempotency-Key, a wait that saw the end.
    const small = { width: 512, height: 512, steps: 3 };
    const queued = await submit({ prompt: 'a red circle', ...small }, { 'idempotency-key': 'contract-1' });
    expect(queued.status).toBe(202);
    const id: string = queued.json().id;
    const replay = await submit({ prompt: 'a red circle', ...small }, { 'idempotency-key': 'contract-1' });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const waited = await submit({ prompt: 'a blue square', ...small }, { prefer: 'wait=60' });
    expect([200, 202]).toContain(waited.status);
    expect(waited.headers.get('preference-applied')).toBe('wait=60');
    // Submit errors.
    expect((await submit({ prompt: '' })).status).toBe(400);
    expect((await submit({ prompt: 'x', colour: 'red' })).status).toBe(400);
    expect((await call('POST', '/v1/generations', '/v1/generations', { key: null, body: '{}' })).status).toBe(
      401,
    );
    expect(
      (await submit({ prompt: 'a red square', ...small }, { 'idempotency-key': 'contract-1' })).status,
    ).toBe(409);
    const huge = JSON.stringify({ prompt: 'x', metadata: { pad: 'x'.repeat(OVERSIZED_SUBMIT) } });
    expect((await call('POST', '/v1/generations', '/v1/generations', { body: huge })).status).toBe(413);
    const plain = { body: 'a red circle', headers: { 'content-type': 'text/plain' } };
    expect((await call('POST', '/v1/generations', '/v1/generations', plain)).status).toBe(415);

    // Image-to-image, plan only: an edit of a picture that stops after the planner.
    const picture = await sharp({
      create: { width: 64, height: 64, channels: 3, background: { r: 220, g: 30, b: 30 } },
    })
      .png()
      .toBuffer();
    const planOnly = await submit({
      prompt: 'make the background green',
      ...small,
      decode: false,
      reference_images: [`data:image/png;base64,${picture.toString('base64')}`],
    });
    expect(planOnly.status).toBe(202);
    expect(planOnly.json().input).toMatchObject({ decode: false, reference_images: [{ format: 'png' }] });
    const notAnImage = { prompt: 'x', ...small, reference_images: ['data:image/png;base64,AAAA'] };
    expect((await submit(notAnImage)).status).toBe(400);

    await untilEnded(id);
    const generation = (await call('GET', '/v1/generations/{id}', `/v1/generations/${id}`)).json();
    expect(generation.status).toBe('succeeded');
    const planId: string = planOnly.json().id;
    await untilEnded(planId);
    const plan = (await call('GET', '/v1/generations/{id}', `/v1/generations/${planId}`)).json();
    expect(plan).toMatchObject({ status: 'succeeded', outputs: [] });

    // Reads.
    expect(
      (await call('GET', '/v1/generations', '/v1/generations?limit=1')).json().next_cursor,
    ).not.toBeNull();
    expect((await call('GET', '/v1/generations', '/v1/generations?limit=0')).status).toBe(400);
    expect((await call('GET', '/v1/generations/{id}', '/v1/generations/nope')).status).toBe(404);
    expect((await call('GET', '/v1/generations/{id}', `/v1/generations/${'x'.repeat(200)}`)).status).toBe(
      400,
    );
    expect((await call('GET', '/v1/generations/{id}', '/v1/generations/%E0%A4%A')).status).toBe(400);

    // Events: the whole stream of an ended generation, then 204 after its last event.
    const events = await call('GET', '/v1/generations/{id}/events', `/v1/generations/${id}/events`);
    expect(events.status).toBe(200);
    const lastId = [...events.text.matchAll(/^id: ?(.+)$/gm)].at(-1)?.[1];
    expect(lastId).toBeDefined();
    const ended = await call('GET', '/v1/generations/{id}/events', `/v1/generations/${id}/events`, {
      headers: { 'last-event-id': lastId! },
    });
    expect(ended.status).toBe(204);
    expect((await call('GET', '/v1/generations/{id}/events', '/v1/generations/nope/events')).status).toBe(
      404,
    );
    const badCursor = { headers: { 'last-event-id': 'not-an-id' } };
    expect(
      (await call('GET', '/v1/generations/{id}/events', `/v1/generations/${id}/events`, badCursor)).status,
    ).toBe(400);

    // Images.
    const outputs = '/v1/generations/{id}/outputs/{index}';
    expect((await call('GET', outputs, `/v1/generations/${id}/outputs/0`)).status).toBe(200);
    expect((await call('GET', outputs, `/v1/generations/${id}/outputs/3`)).status).toBe(404);
    expect((await call('GET', outputs, `/v1/generations/${id}/outputs/first`)).status).toBe(400);
    const preview = '/v1/generations/{id}/preview';
    expect((await call('GET', preview, `/v1/generations/${id}/preview`)).status).toBe(200);
    expect((await call('GET', preview, '/v1/generations/nope/preview')).status).toBe(404);
    const references = '/v1/generations/{id}/references/{index}';
    const reference = await call('GET', references, `/v1/generations/${planId}/references/0`);
    expect(reference.status).toBe(200);
    expect(reference.headers.get('content-type')).toBe('image/png');
    expect((await call('GET', references, `/v1/generations/${planId}/references/1`)).status).toBe(404);
    expect((await call('GET', references, `/v1/generations/${id}/references/0`)).status).toBe(404);
    expect((await call('GET', references, `/v1/generations/${planId}/references/x`)).status).toBe(400);

    // Re-renders: with a body, without one, of a source that cannot be rendered, of none.
    const renders = '/v1/generations/{id}/renders';
    const rendered = await call('POST', renders, `/v1/generations/${id}/renders`, { body: '{"seed":5}' });
    expect(rendered.status).toBe(202);
    expect((await call('POST', renders, `/v1/generations/${id}/renders`)).status).toBe(202);
    // A plan-only generation is decoded by its render, with its reference.
    const decoded = await call('POST', renders, `/v1/generations/${planId}/renders`, { body: '{"steps":2}' });
    expect(decoded.status).toBe(202);
    const unfinished = (
      await submit({ prompt: 'a grey circle', width: 2048, height: 2048, steps: 80 })
    ).json().id;
    expect((await call('POST', renders, `/v1/generations/${unfinished}/renders`)).status).toBe(409);
    expect((await call('POST', renders, '/v1/generations/nope/renders', { body: '{}' })).status).toBe(404);
    expect(
      (await call('POST', renders, `/v1/generations/${id}/renders`, { body: '{"steps":0}' })).status,
    ).toBe(400);

    // Feedback: stored, replayed, refused.
    const feedback = '/v1/generations/{id}/feedback';
    const rating = {
      body: '{"stage":"both","rating":4,"labels":["artifacts"]}',
      headers: { 'idempotency-key': 'fb-1' },
    };
    expect((await call('POST', feedback, `/v1/generations/${id}/feedback`, rating)).status).toBe(201);
    const feedbackReplay = await call('POST', feedback, `/v1/generations/${id}/feedback`, rating);
    expect(feedbackReplay.headers.get('idempotent-replayed')).toBe('true');
    const otherRating = { body: '{"rating":1}', headers: { 'idempotency-key': 'fb-1' } };
    expect((await call('POST', feedback, `/v1/generations/${id}/feedback`, otherRating)).status).toBe(409);
    expect((await call('POST', feedback, `/v1/generations/${id}/feedback`, { body: '{}' })).status).toBe(400);
    expect(
      (await call('POST', feedback, '/v1/generations/nope/feedback', { body: '{"rating":1}' })).status,
    ).toBe(404);

    // The training export: admin keys only.
    const exported = '/v1/feedback/export';
    const planRows = await call('GET', exported, '/v1/feedback/export?stage=plan', { key: ADMIN_KEY });
    expect(planRows.status).toBe(200);
    expect(planRows.text).toContain(id);
    expect((await call('GET', exported, '/v1/feedback/export?stage=decode')).status).toBe(403);
    expect((await call('GET', exported, '/v1/feedback/export?stage=all', { key: ADMIN_KEY })).status).toBe(
      400,
    );

    // Cancel.
    const cancel = '/v1/generations/{id}/cancel';
    expect((await call('POST', cancel, `/v1/generations/${unfinished}/cancel`)).status).toBe(200);
    expect((await call('POST', cancel, '/v1/generations/nope/cancel')).status).toBe(404);
    await untilEnded(rendered.json().id);
    await untilEnded(decoded.json().id);
    const decodedPlan = (
      await call('GET', '/v1/generations/{id}', `/v1/generations/${decoded.json().id}`)
    ).json();
    expect(decodedPlan.status).toBe('succeeded');
    expect(decodedPlan.outputs).toHaveLength(1);

    // Rate limited: the tight key's second write in its window.
    let limited: Call | null = null;
    for (let i = 0; !limited && i < 5; i += 1) {
      const answer = await call('POST', cancel, '/v1/generations/nope/cancel', { key: TIGHT_KEY });
      if (answer.status === 429) limited = answer;
    }
    expect(limited?.headers.get('retry-after')).toMatch(/^\d+$/);

    // Redis down: reads answer 503 until it is back.
    await system.redis.kill();
    try {
      expect((await call('GET', '/v1/generations/{id}', `/v1/generations/${id}`)).status).toBe(503);
      expect((await call('GET', '/v1/generations', '/v1/generations')).status).toBe(503);
      expect((await call('GET', '/readyz', '/readyz', { key: null })).status).toBe(503);
    } finally {
      await system.redis.restart();
    }

    const problems = answers.flatMap((answer) => checkAnswer(document, answer));
    expect(problems).toEqual([]);
  });

  it('exercised a success of every documented operation', () => {
    const succeeded = new Set(
      answers.filter((a) => a.status >= 200 && a.status < 300).map((a) => `${a.method} ${a.path}`),
    );
    const documented = Object.entries(document['paths'] as Record<string, object>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.filter((operation) => !succeeded.has(operation))).toEqual([]);
  });
});
