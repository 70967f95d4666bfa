import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';
import { seedSucceeded } from '../testing/seed-generations.ts';

/**
 * Every link the API answers with starts at PUBLIC_API_URL. Whatever a client says its
 * Host is, or what X-Forwarded-Host and X-Forwarded-Proto say, even behind a trusted
 * proxy, never reaches a link: a cache or a webhook receiver would otherwise hand an
 * attacker's origin to the next person.
 */

const PUBLIC_API_URL = 'https://api.example.org';
const HOSTILE = {
  host: 'evil.example',
  'x-forwarded-host': 'forwarded.evil.example',
  'x-forwarded-proto': 'javascript',
  'x-forwarded-port': '6666',
};

let stack: ApiStack;
let succeeded: string;
beforeAll(async () => {
  // Proxy headers believed: the links still must not follow them.
  stack = await startApiStack({ env: { PUBLIC_API_URL }, trustProxy: true });
  succeeded = await seedSucceeded(stack, 'acme');
});
afterAll(async () => {
  await stack?.close();
});

/** Every http(s) URL in a text; each must start at PUBLIC_API_URL. */
function linksIn(text: string): string[] {
  return text.match(/[a-z]+:\/\/[^"\s]+/gi) ?? [];
}

function expectOnlyPublicLinks(text: string) {
  expect(text).not.toMatch(/evil\.example|javascript:|6666/);
  const links = linksIn(text);
  for (const link of links) expect(link.startsWith(`${PUBLIC_API_URL}/v1/generations/`), link).toBe(true);
  return links;
}

describe('links in answers', () => {
  it.each([
    ['submit', 'POST', '/v1/generations', { prompt: 'links' }],
    ['list', 'GET', '/v1/generations', undefined],
    ['read', 'GET', '/v1/generations/:id', undefined],
    ['re-render', 'POST', '/v1/generations/:id/renders', { seed: 3 }],
    ['cancel', 'POST', '/v1/generations/:id/cancel', undefined],
  ] as const)('%s links to PUBLIC_API_URL only', async (_name, method, path, payload) => {
    const res = await stack.app.inject({
      method,
      url: path.replace(':id', succeeded),
      headers: { ...stack.auth('acme'), ...HOSTILE },
      ...(payload ? { payload } : {}),
    });
    expect(res.statusCode, res.body).toBeLessThan(300);
    expect(expectOnlyPublicLinks(res.body).length).toBeGreaterThan(0);
    expect(res.headers.location ?? '/v1/').toMatch(/^\/v1\//);
  });

  it('the event stream links to PUBLIC_API_URL only', async () => {
    const res = await stack.app.inject({
      url: `/v1/generations/${succeeded}/events`,
      headers: { ...stack.auth('acme'), ...HOSTILE },
    });
    expect(res.statusCode).toBe(200);
    expect(expectOnlyPublicLinks(res.body).length).toBeGreaterThan(0);
  });

  it('takes back as a reference image only links at PUBLIC_API_URL, not at the Host the client names', async () => {
    const path = `/v1/generations/${succeeded}/outputs/0`;
    const submit = (url: string, host: string) =>
      stack.app.inject({
        method: 'POST',
        url: '/v1/generations',
        headers: { ...stack.auth('acme'), host },
        payload: { prompt: 'again', reference_images: [url] },
      });
    expect((await submit(`${PUBLIC_API_URL}${path}`, 'evil.example')).statusCode).toBe(202);
    const refused = await submit(`http://evil.example${path}`, 'evil.example');
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.message).toMatch(/^reference_images\[0\]: .*not this deployment/);
  });
});
