import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYS, startApiStack } from '../testing/api-stack.ts';
import { DASHBOARD_PATH, presentedKey } from './queue-dashboard.ts';

/** Bull Board at /admin/queues: admin keys only, answers in the API's error format, hidden from the document. */

let stack: Awaited<ReturnType<typeof startApiStack>>;
beforeAll(async () => {
  stack = await startApiStack({ env: { AUTH_FAILURES_PER_MINUTE: '1000' } });
});
afterAll(async () => {
  await stack?.close();
});

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('the queue dashboard', () => {
  it('asks a browser for credentials: 401 with a Basic challenge, in the API error format', async () => {
    const res = await stack.app.inject({ url: DASHBOARD_PATH });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(res.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });

    const wrong = await stack.app.inject({
      url: DASHBOARD_PATH,
      headers: { authorization: basic('ops', 'not-a-key-0123456789') },
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('refuses a tenant key with 403, by bearer token or as the Basic password', async () => {
    for (const authorization of [`Bearer ${KEYS.acme}`, basic('acme', KEYS.acme)]) {
      const res = await stack.app.inject({ url: DASHBOARD_PATH, headers: { authorization } });
      expect(res.statusCode).toBe(403);
      expect(res.json()).toEqual({ error: { code: 'forbidden', message: expect.any(String) } });
    }
    const api = await stack.app.inject({
      url: `${DASHBOARD_PATH}/api/queues`,
      headers: { authorization: `Bearer ${KEYS.acme}` },
    });
    expect(api.statusCode).toBe(403);
  });

  it('shows the plan, decode and webhook queues to an admin key, read-only', async () => {
    for (const authorization of [`Bearer ${KEYS.admin}`, basic('anyone', KEYS.admin)]) {
      const page = await stack.app.inject({ url: DASHBOARD_PATH, headers: { authorization } });
      expect(page.statusCode).toBe(200);
      expect(page.headers['content-type']).toContain('text/html');
    }
    const authorization = `Bearer ${KEYS.admin}`;
    const submitted = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: stack.auth('acme'),
      payload: { prompt: 'a red circle' },
    });
    expect(submitted.statusCode).toBe(202);

    const api = await stack.app.inject({ url: `${DASHBOARD_PATH}/api/queues`, headers: { authorization } });
    expect(api.statusCode).toBe(200);
    const queues = api.json().queues as Array<{ name: string; readOnlyMode: boolean; counts: object }>;
    expect(queues.map((q) => q.name).sort()).toEqual(['decode', 'plan', 'webhook']);
    expect(queues.every((q) => q.readOnlyMode)).toBe(true);
    const plan = queues.find((q) => q.name === 'plan');
    expect(plan?.counts).toMatchObject({ prioritized: 1 });

    const pause = await stack.app.inject({
      method: 'PUT',
      url: `${DASHBOARD_PATH}/api/queues/plan/pause`,
      headers: { authorization },
    });
    expect(pause.statusCode).toBeGreaterThanOrEqual(400);
    expect(await stack.context.planQueue.isPaused()).toBe(false);
  });

  it('stays out of the OpenAPI document and leaves other routes in the API error format', async () => {
    const doc = (await stack.app.inject({ url: '/openapi.json' })).json();
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/admin'))).toEqual([]);
    const missing = await stack.app.inject({ url: '/v1/generations/nope', headers: stack.auth('acme') });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('not_found');
    const unauthorized = await stack.app.inject({ url: '/v1/generations' });
    expect(unauthorized.headers['www-authenticate']).toBe('Bearer');
  });

  it("answers Bull Board's own refusals in the API error format, keeping their status", async () => {
    const authorization = `Bearer ${KEYS.admin}`;
    for (const [method, path, status, code] of [
      ['GET', '/api/queues/plan/no-such-job', 404, 'not_found'],
      ['GET', '/api/queues/no-such-queue/no-such-job', 404, 'not_found'],
      ['GET', '/api/queues?activeQueue=plan&status=zzz', 400, 'invalid_input'],
      ['PUT', '/api/queues/plan/no-such-job/retry', 405, 'method_not_allowed'],
      ['GET', '/static/x%00', 403, 'forbidden'],
    ] as const) {
      const res = await stack.app.inject({
        method,
        url: `${DASHBOARD_PATH}${path}`,
        headers: { authorization },
      });
      expect(res.statusCode, path).toBe(status);
      expect(res.headers['content-type']).toContain('application/json');
      expect(res.json()).toEqual({ error: { code, message: expect.stringMatching(/^Queue dashboard: /) } });
    }
  });

  it('reads the key from a bearer token or a Basic password only', () => {
    expect(presentedKey('Bearer abc')).toBe('abc');
    expect(presentedKey(basic('user', 'pa:ss'))).toBe('pa:ss');
    expect(presentedKey(basic('user', ''))).toBeNull();
    expect(presentedKey('Digest abc')).toBeNull();
    expect(presentedKey(undefined)).toBeNull();
  });
});
