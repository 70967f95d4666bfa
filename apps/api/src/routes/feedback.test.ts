import type { GenerationOutput } from '@glm-image/shared/generation';
import type { StageQuality } from '@glm-image/shared/quality';
import { outputKey, previewKey, tokensKey } from '@glm-image/shared/storage';
import { encodeStoredPlan, type StoredPlan } from '@glm-image/shared/tokens';
import { type TrainingRow, TrainingRowSchema } from '@glm-image/shared/training-export';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, type KEYS, startApiStack } from '../testing/api-stack.ts';

/**
 * Feedback on generations and the per-stage training export, against a real Redis and
 * S3. No workers run: generations are moved to `succeeded` the way workers store them,
 * and scores are written through the lifecycle the way the evaluator writes them.
 */

let stack: ApiStack;
beforeAll(async () => {
  stack = await startApiStack();
});
afterAll(async () => {
  await stack?.close();
});

const PLAN = {
  preview: { rows: 2, cols: 2, tokens: [1, 2, 3, 4] },
  main: { rows: 2, cols: 2, tokens: [5, 6, 7, 8] },
};

type Key = keyof typeof KEYS;

/** A generation submitted over HTTP and stored as the workers would have left it, succeeded. */
async function succeeded(
  key: Key,
  body: Record<string, unknown> = {},
  options: { renderOf?: string; images?: number; plan?: StoredPlan } = {},
): Promise<string> {
  const res = options.renderOf
    ? await stack.app.inject({
        method: 'POST',
        url: `/v1/generations/${options.renderOf}/renders`,
        headers: stack.auth(key),
        payload: body,
      })
    : await stack.app.inject({
        method: 'POST',
        url: '/v1/generations',
        headers: stack.auth(key),
        payload: { prompt: 'a red circle with "HI"', width: 512, height: 512, seed: 10, ...body },
      });
  expect(res.statusCode, res.body).toBe(202);
  const { id } = res.json() as { id: string };
  const record = (await stack.context.store.get(id))!;
  const tenant = record.tenant;
  const outputs: GenerationOutput[] = Array.from({ length: options.images ?? record.input.n }, (_, i) => ({
    key: outputKey(tenant, id, i, 'png'),
    width: 512,
    height: 512,
    format: 'png',
    bytes: 100,
    sha256: `${i}`.repeat(64),
  }));
  if (!options.renderOf) {
    await stack.context.objects.put(
      tokensKey(tenant, id),
      encodeStoredPlan(options.plan ?? PLAN),
      'application/json',
    );
  }
  await stack.advance(id, [
    ['planning'],
    [
      'decoding',
      options.renderOf ? {} : { preview: { key: previewKey(tenant, id), width: 128, height: 128 } },
    ],
  ]);
  await stack.context.lifecycle.succeed(id, { outputs });
  return id;
}

function feedback(key: Key, id: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return stack.app.inject({
    method: 'POST',
    url: `/v1/generations/${id}/feedback`,
    headers: { ...stack.auth(key), ...headers },
    payload: body,
  });
}

async function exportRows(
  key: Key,
  query: string,
): Promise<{ status: number; rows: TrainingRow[]; body: string }> {
  const res = await stack.app.inject({ url: `/v1/feedback/export?${query}`, headers: stack.auth(key) });
  const lines = res.body.split('\n').filter((line) => line.length > 0);
  if (res.statusCode !== 200) return { status: res.statusCode, rows: [], body: res.body };
  expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
  // Every line is a row of the documented schema.
  const rows = lines.map((line) => TrainingRowSchema.parse(JSON.parse(line)));
  return { status: 200, rows, body: res.body };
}

const quality = (scores: Record<string, number>): StageQuality => ({
  scored_at: new Date().toISOString(),
  scores,
  scorers: ['test-scorer'],
});

describe('feedback', () => {
  it('stores feedback, shows it on the generation, and counts it', async () => {
    const id = await succeeded('acme');
    const res = await feedback('acme', id, {
      stage: 'decode',
      rating: 2,
      labels: ['text_wrong', 'artifacts'],
      comment: 'the I looks like a 1',
    });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.headers.location).toBe(`/v1/generations/${id}`);
    const given = res.json();
    expect(given).toEqual({
      id: expect.stringMatching(/^fb_/),
      created_at: expect.any(String),
      stage: 'decode',
      rating: 2,
      labels: ['text_wrong', 'artifacts'],
      comment: 'the I looks like a 1',
    });
    const generation = (
      await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('acme') })
    ).json();
    expect(generation.status).toBe('succeeded');
    expect(generation.feedback).toEqual([given]);

    const labelsOnly = await feedback('acme', id, { stage: 'plan', labels: ['layout_wrong'] });
    expect(labelsOnly.statusCode).toBe(201);
    const after = (
      await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('acme') })
    ).json();
    expect(after.feedback.map((f: { stage: string; labels: string[] }) => [f.stage, f.labels])).toEqual([
      ['decode', ['text_wrong', 'artifacts']],
      ['plan', ['layout_wrong']],
    ]);
    const metrics = (await stack.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/glm_feedback_total\{[^}]*stage="decode"[^}]*\} [1-9]/);
    expect(metrics).toMatch(/glm_feedback_rating_count\{[^}]*stage="decode"[^}]*\} [1-9]/);
  });

  it('replays the first feedback for the same Idempotency-Key and body, and refuses another body (409)', async () => {
    const id = await succeeded('acme');
    const body = { stage: 'both', rating: 5 };
    const first = await feedback('acme', id, body, { 'idempotency-key': 'fb-key-1' });
    expect(first.statusCode).toBe(201);
    const again = await feedback('acme', id, body, { 'idempotency-key': 'fb-key-1' });
    expect(again.statusCode).toBe(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json()).toEqual(first.json());
    const other = await feedback('acme', id, { stage: 'both', rating: 1 }, { 'idempotency-key': 'fb-key-1' });
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('idempotency_conflict');
    expect((await stack.context.store.get(id))?.feedback).toHaveLength(1);
  });

  it("answers 404 for another tenant's generation and leaves it untouched", async () => {
    const id = await succeeded('acme');
    const res = await feedback('globex', id, { rating: 1 });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('not_found');
    expect((await stack.context.store.get(id))?.feedback).toBeUndefined();
  });

  it('refuses feedback that does not fit the generation, naming the field', async () => {
    const single = await succeeded('acme');
    const cases: Array<[Record<string, unknown>, number, string, string?]> = [
      [{}, 400, 'invalid_input', 'body'],
      [{ rating: 6 }, 400, 'invalid_input', 'rating'],
      [{ labels: ['Not A Label'] }, 400, 'invalid_input', 'labels'],
      [{ rating: 3, mood: 'meh' }, 400, 'invalid_input', 'mood'],
      [{ stage: 'decode', preferred_output: 0 }, 400, 'invalid_input', 'preferred_output'],
    ];
    for (const [body, status, code, field] of cases) {
      const res = await feedback('acme', single, body);
      expect(res.statusCode, JSON.stringify(body)).toBe(status);
      expect(res.json().error.code).toBe(code);
      if (field) expect(res.json().error.message).toContain(field);
    }

    const queued = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('acme'),
      payload: { prompt: 'still running' },
    });
    const running = await feedback('acme', queued.json().id, { rating: 4 });
    expect(running.statusCode).toBe(409);
    expect(running.json().error.code).toBe('not_rateable');

    const pair = await succeeded('acme', { n: 2 });
    expect((await feedback('acme', pair, { stage: 'plan', preferred_output: 1 })).statusCode).toBe(400);
    expect((await feedback('acme', pair, { stage: 'decode', preferred_output: 2 })).statusCode).toBe(400);

    const render = await succeeded('acme', { seed: 3 }, { renderOf: single });
    const planOnRender = await feedback('acme', render, { stage: 'plan', rating: 2 });
    expect(planOnRender.statusCode).toBe(400);
    expect(planOnRender.json().error.message).toContain(single);

    const planOnly = await succeeded('acme', {}, { images: 0 });
    const decodeOnPlanOnly = await feedback('acme', planOnly, { stage: 'decode', rating: 2 });
    expect(decodeOnPlanOnly.statusCode).toBe(400);
    expect(decodeOnPlanOnly.json().error.message).toContain('stage');
    expect((await feedback('acme', planOnly, { stage: 'plan', rating: 2 })).statusCode).toBe(201);
  });

  it('shows the automatic scores on the generation once written', async () => {
    const id = await succeeded('acme');
    await stack.context.lifecycle.recordQuality(id, 'decode', quality({ text_legibility: 0.75 }));
    const generation = (
      await stack.app.inject({ url: `/v1/generations/${id}`, headers: stack.auth('acme') })
    ).json();
    expect(Object.keys(generation.quality)).toEqual(['decode']);
    expect(generation.quality.decode).toMatchObject({
      scores: { text_legibility: 0.75 },
      scorers: ['test-scorer'],
    });
  });
});

describe('training export', () => {
  let first: string;
  let chosen: string;
  let renderA: string;
  let renderB: string;

  beforeAll(async () => {
    // globex's generations are the ones exported; acme's above must never show.
    first = await succeeded('globex', { prompt: 'a blue square with "OPEN"' });
    await stack.context.lifecycle.recordQuality(first, 'plan', quality({ prompt_alignment: 1 }));
    await stack.context.lifecycle.recordQuality(first, 'decode', quality({ text_legibility: 0.5 }));
    expect(
      (await feedback('globex', first, { stage: 'plan', rating: 4, labels: ['layout_wrong'] })).statusCode,
    ).toBe(201);

    chosen = await succeeded('globex', { prompt: 'three "A" signs', n: 3 });
    expect((await feedback('globex', chosen, { stage: 'decode', preferred_output: 2 })).statusCode).toBe(201);

    // Two renders of `first`'s plan, rated differently.
    renderA = await succeeded('globex', { seed: 1 }, { renderOf: first });
    renderB = await succeeded('globex', { seed: 2 }, { renderOf: first });
    expect((await feedback('globex', renderA, { stage: 'decode', rating: 5 })).statusCode).toBe(201);
    expect((await feedback('globex', renderB, { stage: 'decode', rating: 2 })).statusCode).toBe(201);
  });

  it('is for admin keys only (403)', async () => {
    const res = await stack.app.inject({
      url: '/v1/feedback/export?stage=plan',
      headers: stack.auth('globex'),
    });
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('forbidden');
  });

  it("yields planner rows with the prompt, sampling, tokens, preview, scores and the plan's feedback", async () => {
    const { rows } = await exportRows('admin', 'stage=plan&tenant=globex');
    expect(rows.map((r) => r.id)).toEqual([`plan:${first}`]);
    const row = rows[0]!;
    if (row.kind !== 'plan') throw new Error('not a plan row');
    expect(row).toMatchObject({
      tenant: 'globex',
      generation_id: first,
      prompt: 'a blue square with "OPEN"',
      seed: 10,
      tokens: PLAN,
      preview: { key: previewKey('globex', first) },
      scores: { prompt_alignment: 1 },
    });
    expect(row.temperature).toBeGreaterThan(0);
    expect(row.feedback.map((f) => f.labels)).toEqual([['layout_wrong']]);
  });

  it('yields decoder rows and preference pairs: a chosen image over the others, and a better-rated render', async () => {
    const { rows } = await exportRows('admin', 'stage=decode&tenant=globex');
    const ids = rows.map((r) => r.id);
    expect(ids).toEqual([
      `decode:${first}`,
      `decode:${chosen}`,
      `decode_preference:choice:${chosen}:0:2`,
      `decode_preference:choice:${chosen}:1:2`,
      `decode:${renderA}`,
      `decode:${renderB}`,
      `decode_preference:ratings:${[renderA, renderB].sort().join(':')}`,
    ]);
    const decode = rows.find((r) => r.id === `decode:${first}`);
    if (decode?.kind !== 'decode') throw new Error('not a decode row');
    expect(decode).toMatchObject({
      plan_generation_id: first,
      tokens: PLAN.main,
      glyph_text: ['OPEN'],
      scores: { text_legibility: 0.5 },
    });
    expect(decode.images[0]).toMatchObject({ index: 0, key: outputKey('globex', first, 0, 'png'), seed: 10 });

    const choice = rows.find((r) => r.id === `decode_preference:choice:${chosen}:0:2`);
    if (choice?.kind !== 'decode_preference') throw new Error('not a pair');
    expect(choice).toMatchObject({
      basis: 'chosen_output',
      chosen: { generation_id: chosen, index: 2, seed: 12 },
      rejected: { generation_id: chosen, index: 0, seed: 10 },
    });

    const ratings = rows.at(-1);
    if (ratings?.kind !== 'decode_preference') throw new Error('not a pair');
    expect(ratings).toMatchObject({
      basis: 'ratings',
      plan_generation_id: first,
      tokens: PLAN.main,
      chosen: { generation_id: renderA, rating: 5, seed: 1 },
      rejected: { generation_id: renderB, rating: 2, seed: 2 },
    });
  });

  it('resumes from any row cursor exactly where it stopped, and later gives only what changed', async () => {
    const { rows: all } = await exportRows('admin', 'stage=decode&tenant=globex');
    const walked: TrainingRow[] = [];
    let cursor = '';
    for (;;) {
      const { rows } = await exportRows(
        'admin',
        `stage=decode&tenant=globex&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      if (rows.length === 0) break;
      walked.push(...rows);
      cursor = rows.at(-1)!.cursor;
    }
    expect(walked).toEqual(all);

    // Nothing new: the last cursor gives nothing. New feedback: that generation again, under
    // the same row id; rating the source's images makes it a third rated render of its plan.
    expect((await exportRows('admin', `stage=decode&tenant=globex&cursor=${cursor}`)).rows).toEqual([]);
    expect((await feedback('globex', first, { stage: 'decode', rating: 1 })).statusCode).toBe(201);
    const { rows: changed } = await exportRows('admin', `stage=decode&tenant=globex&cursor=${cursor}`);
    expect(changed.map((r) => r.id)).toEqual([
      `decode:${first}`,
      `decode_preference:ratings:${[first, renderA].sort().join(':')}`,
      `decode_preference:ratings:${[first, renderB].sort().join(':')}`,
    ]);
    if (changed[0]?.kind !== 'decode') throw new Error('not a decode row');
    expect(changed[0].feedback.map((f) => f.rating)).toEqual([1]);
    if (changed[2]?.kind !== 'decode_preference') throw new Error('not a pair');
    expect([changed[2].chosen.generation_id, changed[2].rejected.generation_id]).toEqual([renderB, first]);
  });

  it('carries the reference images of an edit, with the tokens its plan read them as, on each of its rows', async () => {
    const picture = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#2040d0' } })
      .png()
      .toBuffer();
    const read = { rows: 2, cols: 2, tokens: [9, 9, 9, 9] };
    const edit = await succeeded(
      'dev',
      { reference_images: [`data:image/png;base64,${picture.toString('base64')}`] },
      { plan: { ...PLAN, references: [read] } },
    );
    const render = await succeeded('dev', { seed: 3 }, { renderOf: edit });
    await stack.context.lifecycle.recordQuality(edit, 'plan', quality({ prompt_alignment: 1 }));
    expect((await feedback('dev', edit, { stage: 'decode', rating: 5 })).statusCode).toBe(201);
    expect((await feedback('dev', render, { stage: 'decode', rating: 2 })).statusCode).toBe(201);
    const stored = async (id: string) => (await stack.context.store.get(id))!.input.reference_images!;
    const expected = async (id: string) =>
      (await stored(id)).map(({ bytes: _bytes, ...image }) => ({ ...image, tokens: read }));

    const [plan] = (await exportRows('admin', 'stage=plan&tenant=dev')).rows;
    expect(plan).toMatchObject({ kind: 'plan', generation_id: edit });
    expect(plan?.kind === 'plan' && plan.reference_images).toEqual(await expected(edit));
    expect(plan?.kind === 'plan' && plan.reference_images[0]).toMatchObject({ width: 64, height: 64 });

    const rows = (await exportRows('admin', 'stage=decode&tenant=dev')).rows;
    expect(rows.map((r) => r.kind)).toEqual(['decode', 'decode', 'decode_preference']);
    const referencesOf = (row: TrainingRow | undefined) =>
      row && 'reference_images' in row ? row.reference_images : [];
    expect(referencesOf(rows[0])).toEqual(await expected(edit));
    // A render holds copies of its source's images under its own keys, and decodes its source's plan.
    expect(referencesOf(rows[1])).toEqual(await expected(render));
    expect((await stored(render))[0]!.key).not.toBe((await stored(edit))[0]!.key);
    expect(referencesOf(rows[2])).toHaveLength(1);

    // Text-to-image rows say so with an empty list.
    const acme = (await exportRows('admin', 'stage=decode&tenant=acme')).rows;
    expect(acme.every((r) => referencesOf(r).length === 0)).toBe(true);
  });

  it('keeps tenants apart and checks its query', async () => {
    // The admin key's own tenant has nothing; acme's rows never appear in globex's export.
    expect((await exportRows('admin', 'stage=decode')).rows).toEqual([]);
    const acme = await exportRows('admin', 'stage=decode&tenant=acme');
    expect(acme.rows.length).toBeGreaterThan(0);
    expect(acme.rows.every((r) => r.tenant === 'acme')).toBe(true);
    const globex = await exportRows('admin', 'stage=decode&tenant=globex');
    expect(globex.rows.every((r) => r.tenant === 'globex')).toBe(true);

    // A cursor only continues the export it came from.
    const cursor = globex.rows[0]!.cursor;
    const elsewhere = await exportRows('admin', `stage=plan&tenant=globex&cursor=${cursor}`);
    expect(elsewhere.status).toBe(400);
    expect(JSON.parse(elsewhere.body).error.message).toContain('cursor');
    expect((await exportRows('admin', 'stage=decode&tenant=globex&cursor=bogus')).status).toBe(400);
    expect((await exportRows('admin', 'stage=both')).status).toBe(400);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await exportRows('admin', `stage=decode&tenant=globex&since=${future}`)).rows).toEqual([]);
  });
});

describe('OpenAPI', () => {
  it('documents feedback, the export and the scores on the generation', async () => {
    const doc = (await stack.app.inject({ url: '/openapi.json' })).json();
    const feedbackPost = doc.paths['/v1/generations/{id}/feedback'].post;
    expect(Object.keys(feedbackPost.responses)).toEqual(
      expect.arrayContaining(['200', '201', '400', '404', '409']),
    );
    expect(feedbackPost.requestBody.content['application/json'].schema.properties.stage.enum).toEqual([
      'plan',
      'decode',
      'both',
    ]);
    const exportGet = doc.paths['/v1/feedback/export'].get;
    expect(Object.keys(exportGet.responses['200'].content)).toEqual(['application/x-ndjson']);
    expect(exportGet.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['stage', 'since', 'cursor', 'limit', 'tenant']),
    );
    const generation =
      doc.paths['/v1/generations/{id}'].get.responses['200'].content['application/json'].schema;
    const properties =
      generation.properties ?? doc.components.schemas[generation.$ref?.split('/').at(-1)]?.properties;
    expect(Object.keys(properties)).toEqual(expect.arrayContaining(['quality', 'feedback']));
  });
});
