import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';
import { seedQueued, seedSucceeded } from '../testing/seed-generations.ts';

/**
 * One tenant never reaches another's generations, by any route: each answers 404
 * `not_found` exactly as for an id that does not exist, so ids cannot even be probed,
 * and nothing changes (a cancel, a render or feedback of another's generation does
 * nothing). The admin key sees every tenant.
 */

let stack: ApiStack;
let succeeded: string;
let queued: string;
beforeAll(async () => {
  stack = await startApiStack();
  succeeded = await seedSucceeded(stack, 'acme');
  queued = await seedQueued(stack, 'acme');
});
afterAll(async () => {
  await stack?.close();
});

const ROUTES = [
  ['record', 'GET', '/v1/generations/:id'],
  ['events', 'GET', '/v1/generations/:id/events'],
  ['output', 'GET', '/v1/generations/:id/outputs/0'],
  ['preview', 'GET', '/v1/generations/:id/preview'],
  ['reference image', 'GET', '/v1/generations/:id/references/0'],
  ['render', 'POST', '/v1/generations/:id/renders'],
  ['feedback', 'POST', '/v1/generations/:id/feedback'],
  ['cancel', 'POST', '/v1/generations/:id/cancel'],
] as const;

const BODIES: Record<string, object> = {
  '/v1/generations/:id/renders': { seed: 1 },
  '/v1/generations/:id/feedback': { rating: 1 },
};

function call(key: 'acme' | 'globex' | 'admin', method: 'GET' | 'POST', path: string, id: string) {
  const payload = BODIES[path];
  return stack.app.inject({
    method,
    url: path.replace(':id', id),
    headers: stack.auth(key),
    ...(payload ? { payload } : {}),
  });
}

describe("another tenant's generation", () => {
  it.each(ROUTES)('%s answers 404 exactly as an unknown id does', async (_name, method, path) => {
    for (const id of [succeeded, queued]) {
      const theirs = await call('globex', method, path, id);
      expect(theirs.statusCode, `${path} ${id}`).toBe(404);
      expect(theirs.json()).toEqual({ error: { code: 'not_found', message: expect.any(String) } });
      const unknown = await call('globex', method, path, 'gen_00000000000000000000000000');
      expect(unknown.statusCode).toBe(404);
      // The message names the id the client sent, and nothing of the generation.
      expect(theirs.json().error.message).toBe(unknown.json().error.message.replace(/gen_0+/, id));
    }
  });

  it('changes nothing when canceled, rendered or rated by another tenant', async () => {
    for (const [, method, path] of ROUTES) await call('globex', method, path, queued);
    const record = await stack.context.store.get(queued);
    expect(record?.status).toBe('queued');
    expect(record?.cancel_requested).toBeFalsy();
    expect(record?.feedback ?? []).toEqual([]);
  });

  it('never shows up in their list', async () => {
    const res = await stack.app.inject({ url: '/v1/generations?limit=100', headers: stack.auth('globex') });
    expect(res.statusCode).toBe(200);
    const ids = (res.json().items as Array<{ id: string }>).map((item) => item.id);
    expect(ids).not.toContain(succeeded);
    expect(ids).not.toContain(queued);
  });

  it("cannot be used as another tenant's reference image, by API link or public URL", async () => {
    const res = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('globex'),
      payload: {
        prompt: 'x',
        reference_images: [`${stack.context.env.PUBLIC_API_URL}/v1/generations/${succeeded}/outputs/0`],
      },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.message).toMatch(/^reference_images\[0\]: names no image of yours/);
  });

  it('is served to its own tenant and to the admin key', async () => {
    for (const key of ['acme', 'admin'] as const) {
      for (const [, method, path] of ROUTES.filter(([, m]) => m === 'GET')) {
        const res = await call(key, method, path, succeeded);
        expect(res.statusCode, `${key} ${path}`).toBe(200);
      }
    }
  });
});
