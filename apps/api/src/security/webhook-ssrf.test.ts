import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiStack, startApiStack } from '../testing/api-stack.ts';
import { startTestReceiver, type TestReceiver } from '../testing/webhook-receiver.ts';
import { WebhookTargetRefusedError } from '../webhooks/errors.ts';
import { postWebhook } from '../webhooks/http-delivery.ts';
import { parseWebhookAllowList, type ResolvedAddress, SsrfGuard } from '../webhooks/ssrf-guard.ts';

/**
 * Webhook URLs that point inside: every way of writing a loopback, private, link-local
 * or unspecified address is refused at submit with 400 naming webhook.url; a name whose
 * DNS answer turns private after the submit-time check (rebinding) is refused when the
 * delivery connects; a redirect to any such address is refused before it is followed.
 * Names resolve through an injected resolver and the only sockets opened go to a
 * receiver on loopback, so no packet leaves the machine.
 */

/** Answers public for the first lookup of a name, private for every later one. */
function rebindingResolver() {
  const seen = new Map<string, number>();
  return async (hostname: string): Promise<ResolvedAddress[]> => {
    const calls = (seen.get(hostname) ?? 0) + 1;
    seen.set(hostname, calls);
    if (hostname !== 'rebind.example.com') throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    return [{ address: calls === 1 ? '93.184.215.14' : '127.0.0.1', family: 4 }];
  };
}

let stack: ApiStack;
let receiver: TestReceiver;
const resolver = rebindingResolver();
beforeAll(async () => {
  stack = await startApiStack({ dns: Object.assign(resolver, { lookups: [] as string[] }) });
  receiver = await startTestReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});

function submit(url: string) {
  return stack.app.inject({
    method: 'POST',
    url: '/v1/generations',
    headers: stack.auth('acme'),
    payload: { prompt: 'hooked', webhook: { url } },
  });
}

/** Loopback, private, link-local and unspecified addresses, written every way a URL allows. */
const INSIDE = [
  'http://127.0.0.1/',
  'http://[::ffff:127.0.0.1]/',
  'http://[::ffff:7f00:1]/',
  'http://[0:0:0:0:0:ffff:127.0.0.1]/',
  'http://2130706433/',
  'http://0177.0.0.1/',
  'http://0x7f.0.0.1/',
  'http://0x7f000001/',
  'http://127.1/',
  'http://0/',
  'http://0.0.0.0/',
  'http://[::]/',
  'http://[::1]/',
  'http://[0:0:0:0:0:0:0:1]/',
  'http://localhost./',
  'http://LOCALHOST/',
  'http://api.localhost/',
  'http://169.254.169.254/latest/meta-data/',
  'http://[::ffff:169.254.169.254]/',
  'http://2852039166/',
  'http://0251.0376.0251.0376/',
  'http://metadata.google.internal./',
  'http://10.0.0.1/',
  'http://172.16.0.1/',
  'http://192.168.1.1/',
  'http://100.64.0.1/',
  'http://[fc00::1]/',
  'http://[fe80::1]/',
  'http://[64:ff9b::7f00:1]/',
  'http://[2002:7f00:1::]/',
];

describe('webhook URLs at submit', () => {
  it.each(INSIDE)('refuses %s with 400 naming webhook.url', async (url) => {
    const res = await submit(url);
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json().error).toMatchObject({
      code: 'invalid_input',
      message: expect.stringMatching(/^webhook\.url: /),
    });
  });

  it.each([
    'http://user:pass@hooks.example.com/',
    'file:///etc/passwd',
    'gopher://hooks.example.com/',
    'ftp://x/',
  ])('refuses %s, which is not a plain http(s) URL', async (url) => {
    expect((await submit(url)).statusCode).toBe(400);
  });
});

describe('webhook deliveries', () => {
  it('refuse a name whose DNS answer turns private after the submit-time check (rebinding)', async () => {
    const url = `http://rebind.example.com:${receiver.port}/hook`;
    // At submit the name answers public: accepted, nothing is sent.
    expect((await submit(url)).statusCode).toBe(202);
    // At delivery it answers loopback, and the connect is refused.
    const guard = new SsrfGuard({ resolver });
    await expect(
      postWebhook(guard, { url, body: '{}', headers: {}, timeoutMs: 30_000 }),
    ).rejects.toMatchObject({ code: 'webhook_target_refused', address: '127.0.0.1' });
    expect(receiver.requests).toHaveLength(0);
  });

  it.each(INSIDE)('refuse a redirect to %s, sending nothing there', async (location) => {
    // The receiver is allowed by name only; the redirect names an address.
    const entry = await startTestReceiver(() => ({ status: 302, headers: { location } }));
    try {
      const guard = new SsrfGuard({
        resolver: async () => [{ address: '127.0.0.1', family: 4 }],
        allowList: parseWebhookAllowList('hooks.partner.example'),
      });
      const url = `http://hooks.partner.example:${entry.port}/hook`;
      await expect(
        postWebhook(guard, { url, body: '{}', headers: {}, timeoutMs: 30_000 }),
      ).rejects.toBeInstanceOf(WebhookTargetRefusedError);
      expect(entry.requests).toHaveLength(1);
    } finally {
      await entry.close();
    }
  });
});
