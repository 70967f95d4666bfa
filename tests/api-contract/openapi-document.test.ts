import { createConfig, lintFromString } from '@redocly/openapi-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { RESPONSE_HEADERS } from '../../apps/api/src/openapi/headers.ts';
import { apiDocument } from '../../scripts/generate-client.ts';

/** The document itself: lint-clean, and saying what the routes really do. Real answers are checked in tests/e2e. */

// biome-ignore lint/suspicious/noExplicitAny: a parsed JSON document, walked by path below.
let doc: any;
beforeAll(async () => {
  doc = await apiDocument();
});

const operations = () =>
  Object.entries(doc.paths as Record<string, Record<string, { operationId?: string }>>).flatMap(
    ([path, item]) => Object.entries(item).map(([method, operation]) => ({ path, method, operation })),
  );

describe('the OpenAPI document', () => {
  it("passes Redocly's recommended rules (the project declares no license, the one warning left)", async () => {
    const config = await createConfig({ extends: ['recommended'] });
    const problems = await lintFromString({
      source: JSON.stringify(doc),
      absoluteRef: 'openapi.json',
      config,
    });
    const found = problems.map(
      (p) => `${p.severity} ${p.ruleId}: ${p.message} ${p.location[0]?.pointer ?? ''}`,
    );
    expect(found.filter((line) => !line.startsWith('warn info-license'))).toEqual([]);
  });

  it('names every operation and the server it is served from', () => {
    const ids = operations().map(({ operation }) => operation.operationId);
    expect(ids.every((id) => typeof id === 'string')).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(doc.servers).toEqual([{ url: 'http://127.0.0.1:3000' }]);
    expect(Object.keys(doc.paths).filter((path) => /^\/(admin|docs|openapi)/.test(path))).toEqual([]);
  });

  it('marks request bodies required only where they are', () => {
    expect(doc.paths['/v1/generations'].post.requestBody.required).toBe(true);
    expect(doc.paths['/v1/generations/{id}/renders'].post.requestBody.required).toBe(false);
    expect(doc.paths['/v1/generations/{id}/cancel'].post.requestBody).toBeUndefined();
  });

  it('documents the headers each route sends', () => {
    expect(Object.keys(doc.components.headers)).toEqual(Object.keys(RESPONSE_HEADERS));
    const submit = doc.paths['/v1/generations'].post;
    for (const status of ['200', '202']) {
      expect(Object.keys(submit.responses[status].headers)).toEqual(
        expect.arrayContaining([
          'Location',
          'Preference-Applied',
          'Idempotent-Replayed',
          'X-RateLimit-Remaining',
        ]),
      );
    }
    expect(submit.responses['429'].headers['Retry-After']).toEqual({
      $ref: '#/components/headers/Retry-After',
    });
    expect(submit.responses['401'].headers['WWW-Authenticate']).toBeDefined();
    expect(doc.paths['/v1/generations/{id}/renders'].post.responses['202'].headers.Location).toBeDefined();
    const events = doc.paths['/v1/generations/{id}/events'].get;
    expect(events.parameters).toContainEqual(
      expect.objectContaining({ in: 'header', name: 'last-event-id', required: false }),
    );
    expect(Object.keys(events.responses['200'].content)).toEqual(['text/event-stream']);
    expect(events.responses['204'].content).toBeUndefined();
  });

  it('documents the images as binary responses', () => {
    const output = doc.paths['/v1/generations/{id}/outputs/{index}'].get.responses['200'];
    expect(Object.keys(output.content)).toEqual(['image/png', 'image/webp', 'image/jpeg']);
    expect(output.content['image/png'].schema).toMatchObject({ type: 'string', format: 'binary' });
    const preview = doc.paths['/v1/generations/{id}/preview'].get.responses['200'];
    expect(Object.keys(preview.content)).toEqual(['image/png']);
  });

  it('requires a key on /v1 only, and answers every error in one shape', () => {
    for (const { path, operation } of operations()) {
      const secured = (operation as { security?: unknown[] }).security;
      if (path.startsWith('/v1/')) expect(secured, path).toEqual([{ bearerAuth: [] }]);
      else expect(secured, path).toEqual([]);
      const responses = (operation as { responses: Record<string, { content?: Record<string, unknown> }> })
        .responses;
      for (const [status, response] of Object.entries(responses)) {
        if (!/^[45]/.test(status)) continue;
        expect(response.content?.['application/json'], `${path} ${status}`).toEqual({
          schema: { $ref: '#/components/schemas/Error' },
        });
      }
    }
  });

  it('describes the webhook deliveries', () => {
    expect(Object.keys(doc.webhooks)).toEqual([
      'generation.planned',
      'generation.succeeded',
      'generation.failed',
      'generation.canceled',
    ]);
  });
});
