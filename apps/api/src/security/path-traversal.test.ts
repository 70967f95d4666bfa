import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';
import { seedSucceeded } from '../testing/seed-generations.ts';

/**
 * Ids and indexes in paths that try to reach past a generation: encoded slashes and dot
 * segments, ids outside the characters ids are made of (`gen_x:events` once named the
 * event stream of gen_x in Redis and answered 500), malformed percent-encoding inside a
 * reference image's link (once a 500 too). Each answers 404 or 400 in the API's error
 * format; nothing outside the tenant's generation is ever read.
 */

let stack: ApiStack;
let mine: string;
let theirs: string;
beforeAll(async () => {
  stack = await startApiStack();
  mine = await seedSucceeded(stack, 'acme');
  theirs = await seedSucceeded(stack, 'globex');
});
afterAll(async () => {
  await stack?.close();
});

const get = (url: string) => stack.app.inject({ url, headers: stack.auth('acme') });

function expectRefused(res: { statusCode: number; json(): unknown; body: string }, url: string) {
  expect([400, 404], `${url}: ${res.body}`).toContain(res.statusCode);
  expect(res.json()).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  // Nothing of a generation or of the object store comes back: no record, no key.
  expect(res.body).not.toMatch(/"input"|"prompt"|"outputs"/);
  expect(res.body).not.toMatch(/generations\/(acme|globex)\//);
}

describe('ids that name something else', () => {
  it.each([':events', ':webhook', '%3Aevents', '%3awebhook', ':events:x'])(
    '%s after an existing id answers 404, on every route',
    async (suffix) => {
      for (const route of ['', '/events', '/outputs/0', '/preview', '/references/0']) {
        const url = `/v1/generations/${mine}${suffix}${route}`;
        const res = await get(url);
        expectRefused(res, url);
        expect(res.statusCode, url).toBe(404);
      }
      for (const route of ['/cancel', '/renders', '/feedback']) {
        const url = `/v1/generations/${mine}${suffix}${route}`;
        const res = await stack.app.inject({ method: 'POST', url, headers: stack.auth('acme'), payload: {} });
        expectRefused(res, url);
      }
    },
  );

  it.each([
    (id: string) => `../${id}`,
    (id: string) => `..%2F${id}`,
    (id: string) => `..%2f..%2fglobex%2F${id}`,
    (id: string) => `%2E%2E%2F${id}`,
    (id: string) => `${id}%2F..%2F..%2Fglobex`,
    (id: string) => `${id}%00`,
    (id: string) => `${id}%20`,
    (id: string) => `${id}*`,
    (id: string) => `${id.slice(0, -1)}?`,
    (id: string) => `{${id}}`,
    (id: string) => `${id}/..`,
    () => `.`,
    () => `%2E`,
  ])('%s answers 404 or 400 in the error format', async (make) => {
    for (const id of [mine, theirs]) {
      for (const route of ['', '/outputs/0', '/outputs/..%2F0', '/outputs/-1', '/outputs/1e1', '/preview']) {
        const url = `/v1/generations/${make(id)}${route}`;
        expectRefused(await get(url), url);
      }
    }
  });

  it('answers traversal in the index with 400, reading nothing', async () => {
    for (const index of ['..%2F..%2Fglobex', '%2e%2e', '0%2F..%2F1', '99999999999999999999', '-0.5', 'NaN']) {
      const url = `/v1/generations/${mine}/outputs/${index}`;
      const res = await get(url);
      expectRefused(res, url);
    }
  });
});

describe('links to images of this deployment', () => {
  it('refuse malformed percent-encoding and traversal in the id with 400 naming the reference', async () => {
    const base = `${stack.context.env.PUBLIC_API_URL}/v1/generations`;
    for (const link of [
      `${base}/%E0%A4%A/outputs/0`,
      `${base}/%/preview`,
      `${base}/..%2F..%2Fglobex%2F${theirs}/outputs/0`,
      `${base}/${mine}%3Aevents/outputs/0`,
      `${base}/${theirs}/outputs/0`,
    ]) {
      const res = await stack.app.inject({
        method: 'POST',
        url: '/v1/generations',
        headers: stack.auth('acme'),
        payload: { prompt: 'x', reference_images: [link] },
      });
      expect(res.statusCode, `${link}: ${res.body}`).toBe(400);
      expect(res.json().error.message).toMatch(/^reference_images\[0\]: /);
    }
  });
});
