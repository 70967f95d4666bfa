import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { nestingDepth } from './app.ts';
import { parseApiEnv } from './env.ts';
import { type ApiStack, startApiStack } from './testing/api-stack.ts';

/**
 * What never reaches a route still answers in the API's error format: requests Node's
 * HTTP parser rejects, URLs the router cannot decode, path segments that are too long,
 * unmet `Expect` values, bodies nested too deep. Sent over a real socket to the API
 * listening on loopback, byte for byte as a client could send them.
 */

let stack: ApiStack;
let port: number;

beforeAll(async () => {
  stack = await startApiStack();
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  port = (stack.app.server.address() as { port: number }).port;
});
afterAll(async () => {
  await stack?.close();
});

/** Sends raw bytes, resolves with the status and the parsed JSON body of the answer. */
function raw(
  request: string,
): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const status = Number(head.split(' ')[1]);
      const body = rest.join('\r\n\r\n');
      try {
        resolve({ status, body: JSON.parse(body) });
      } catch {
        reject(new Error(`not JSON (status ${status}): ${JSON.stringify(text.slice(0, 300))}`));
      }
    });
  });
}

const auth = 'Authorization: Bearer test-key-acme-0123456789';

describe('errors raised before any route', () => {
  it('answers oversized headers with 431 in the API format', async () => {
    const res = await raw(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(res.status).toBe(431);
    expect(res.body.error?.code).toBe('headers_too_large');
  });

  it('answers a request the HTTP parser rejects with 400 in the API format', async () => {
    const res = await raw('THIS IS NOT HTTP\r\n\r\n');
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_input');
  });

  it('answers malformed percent-encoding in the path with 400, without echoing it', async () => {
    const res = await raw(
      `GET /v1/generations/%E0%A4%A HTTP/1.1\r\nHost: x\r\n${auth}\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_input');
    expect(res.body.error?.message).not.toContain('%E0');
  });

  it('answers an id past the longest one with 400 naming the path, without echoing it', async () => {
    const id = 'g'.repeat(300);
    const res = await raw(
      `GET /v1/generations/${id} HTTP/1.1\r\nHost: x\r\n${auth}\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_input');
    expect(res.body.error?.message).not.toContain(id);
  });

  it('answers an HTTP/1.1 request without a Host header with 400 in the API format', async () => {
    const res = await raw(`GET /healthz HTTP/1.1\r\n${auth}\r\nConnection: close\r\n\r\n`);
    expect(res.status).toBe(400);
    expect(res.body.error).toEqual({ code: 'invalid_input', message: 'request: a Host header is required' });
    // HTTP/1.0 had no Host header.
    expect((await raw('GET /healthz HTTP/1.0\r\n\r\n')).status).toBe(200);
    // Bull Board's routes have an error handler of their own: the refusal still is the API's.
    const board = await raw(
      'GET /admin/queues HTTP/1.1\r\nAuthorization: Bearer test-key-admin-0123456789\r\nConnection: close\r\n\r\n',
    );
    expect(board.status).toBe(400);
    expect(board.body.error?.message).toBe('request: a Host header is required');
  });

  it('answers CONNECT with 405 in the API format and closes, instead of leaving the client waiting', async () => {
    for (const target of ['/healthz', 'internal.example:443']) {
      const res = await raw(`CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.status).toBe(405);
      expect(res.body.error?.code).toBe('method_not_allowed');
    }
    // And the server lets go of the connection once the client has.
    const open = () => new Promise<number>((r) => stack.app.server.getConnections((_e, n) => r(n)));
    await vi.waitFor(async () => expect(await open()).toBe(0), { timeout: 60_000, interval: 50 });
  });

  it('answers an Expect it does not meet with 417 in the API format', async () => {
    const res = await raw(
      `POST /v1/generations HTTP/1.1\r\nHost: x\r\n${auth}\r\nExpect: teapot\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(res.status).toBe(417);
    expect(res.body.error?.code).toBe('expectation_failed');
  });
});

describe('request bodies', () => {
  it('refuses a body nested deeper than any request needs with 400, before walking it', async () => {
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const res = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: { ...stack.auth('acme'), 'content-type': 'application/json' },
      payload: `{"prompt":"x","metadata":${deep}}`,
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/^body: nested/),
    });
  });

  it('counts nesting without being fooled by brackets inside strings', () => {
    expect(nestingDepth('{"a":[1,{"b":2}]}')).toBe(3);
    expect(nestingDepth('{"a":"[[[[{{{{\\\\\\"[["}')).toBe(1);
    expect(nestingDepth('"just a string"')).toBe(0);
  });
});

describe('proxy headers', () => {
  it('are not trusted unless TRUST_PROXY says so', async () => {
    expect(parseApiEnv({}).TRUST_PROXY).toBe(false);
    expect(parseApiEnv({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(true);
    expect(parseApiEnv({ TRUST_PROXY: '10.0.0.0/8' }).TRUST_PROXY).toBe('10.0.0.0/8');
    const res = await stack.app.inject({
      method: 'POST',
      url: '/v1/generations',
      headers: {
        ...stack.auth('acme'),
        'x-forwarded-host': 'evil.example',
        'x-forwarded-proto': 'javascript',
      },
      payload: { prompt: 'links' },
    });
    expect(res.json().urls.self.startsWith(`${stack.context.env.PUBLIC_API_URL}/v1/`)).toBe(true);
    expect(JSON.stringify(res.json())).not.toContain('evil.example');
  });
});
