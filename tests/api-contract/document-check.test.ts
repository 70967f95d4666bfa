import { beforeAll, describe, expect, it } from 'vitest';
import { apiDocument } from '../../scripts/generate-client.ts';
import { checkAnswer, type RecordedAnswer } from './document-check.ts';
import type { Schema } from './json-schema.ts';

/** The checker itself: answers that break the document must be caught. */

let document: Schema;
beforeAll(async () => {
  document = await apiDocument();
});

const generation = {
  id: 'g1',
  status: 'queued',
  created_at: '2030-01-01T00:00:00Z',
  input: {
    prompt: 'p',
    width: 512,
    height: 512,
    seed: 1,
    steps: 2,
    guidance_scale: 1,
    temperature: 1,
    top_p: 1,
    n: 1,
    output_format: 'png',
    decode: true,
  },
  progress: { stage: 'queued' },
  outputs: [],
  timings: {},
  urls: { self: 's', events: 'e', cancel: 'c' },
};

function answer(status: number, body: unknown, headers: Record<string, string> = {}): RecordedAnswer {
  const text = body === undefined ? '' : JSON.stringify(body);
  return {
    method: 'POST',
    path: '/v1/generations',
    status,
    headers: new Headers({ 'content-type': 'application/json; charset=utf-8', ...headers }),
    body: new TextEncoder().encode(text),
  };
}

describe('checkAnswer', () => {
  it('passes an answer the document describes', () => {
    expect(checkAnswer(document, answer(202, generation, { location: '/v1/generations/g1' }))).toEqual([]);
  });

  it('catches missing required headers, undeclared headers and statuses, and stray fields', () => {
    expect(checkAnswer(document, answer(202, generation))).toEqual([
      'POST /v1/generations → 202: required header location missing',
    ]);
    expect(
      checkAnswer(document, answer(202, generation, { location: '/x', 'cache-control': 'no-store' })),
    ).toEqual(['POST /v1/generations → 202: sends undeclared header cache-control']);
    expect(checkAnswer(document, answer(202, { ...generation, extra: 1 }, { location: '/x' }))).toEqual([
      'POST /v1/generations → 202: $: has undocumented property extra',
    ]);
    expect(checkAnswer(document, answer(429, { error: { code: 'rate_limited', message: 'm' } }))).toEqual([
      'POST /v1/generations → 429: required header retry-after missing',
    ]);
    expect(checkAnswer(document, answer(400, { error: 'Bad Request', statusCode: 400 }))).toEqual([
      'POST /v1/generations → 400: $.error: is string, not object',
      'POST /v1/generations → 400: $: has undocumented property statusCode',
    ]);
    expect(checkAnswer(document, { ...answer(204, undefined), path: '/v1/generations/{id}' })).toEqual([
      expect.stringContaining('no such operation'),
    ]);
  });
});
