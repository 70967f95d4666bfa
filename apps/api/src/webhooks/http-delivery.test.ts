import { afterEach, describe, expect, it } from 'vitest';
import { startTestReceiver, type TestReceiver } from '../testing/webhook-receiver.ts';
import { WebhookTargetRefusedError, WebhookTimeoutError, WebhookTooManyRedirectsError } from './errors.ts';
import { postWebhook } from './http-delivery.ts';
import {
  parseWebhookAllowList,
  type ResolvedAddress,
  SsrfGuard,
  type WebhookResolver,
} from './ssrf-guard.ts';

const receivers: TestReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function receiver(...args: Parameters<typeof startTestReceiver>): Promise<TestReceiver> {
  const r = await startTestReceiver(...args);
  receivers.push(r);
  return r;
}

/** Resolves every name through `answer`; counts calls. Never touches real DNS. */
function fakeDns(answer: (hostname: string, call: number) => string[]): WebhookResolver & { calls: number } {
  const state = { calls: 0 };
  const resolver = async (hostname: string): Promise<ResolvedAddress[]> => {
    state.calls += 1;
    return answer(hostname, state.calls).map((address) => ({
      address,
      family: address.includes(':') ? 6 : 4,
    }));
  };
  return Object.defineProperty(resolver, 'calls', { get: () => state.calls }) as WebhookResolver & {
    calls: number;
  };
}

const post = (guard: SsrfGuard, url: string, timeoutMs = 5000) =>
  postWebhook(guard, { url, body: '{"type":"t"}', headers: { 'webhook-id': 'msg_1' }, timeoutMs });

describe('postWebhook', () => {
  it('delivers to an allow-listed local receiver', async () => {
    const r = await receiver();
    const guard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    const res = await post(guard, `${r.url}/hook`);
    expect(res).toMatchObject({ status: 200, redirects: 0 });
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]).toMatchObject({ method: 'POST', url: '/hook', body: '{"type":"t"}' });
    expect(r.requests[0]?.headers).toMatchObject({
      'webhook-id': 'msg_1',
      'content-type': 'application/json',
    });
  });

  it('connects to the address the guard resolved, not to what the system DNS says', async () => {
    const r = await receiver();
    const dns = fakeDns((host) => (host === 'hooks.example' ? ['127.0.0.1'] : []));
    const guard = new SsrfGuard({ resolver: dns, allowList: parseWebhookAllowList('127.0.0.0/8') });
    expect((await post(guard, `http://hooks.example:${r.port}/x`)).status).toBe(200);
    expect(r.requests).toHaveLength(1);
    expect(r.requests[0]?.headers.host).toBe(`hooks.example:${r.port}`);
    expect(dns.calls).toBe(1);
  });

  it('refuses loopback when it is not allow-listed, sending nothing', async () => {
    const r = await receiver();
    const guard = new SsrfGuard();
    await expect(post(guard, `${r.url}/hook`)).rejects.toBeInstanceOf(WebhookTargetRefusedError);
    await expect(post(guard, `http://[::ffff:127.0.0.1]:${r.port}/hook`)).rejects.toBeInstanceOf(
      WebhookTargetRefusedError,
    );
    expect(r.requests).toHaveLength(0);
  });

  it.each([
    'http://10.0.0.1/hook',
    'http://172.16.0.1/hook',
    'http://192.168.0.1/hook',
    'http://127.0.0.1/hook',
    'http://[::1]/hook',
    'http://[fe80::1]/hook',
    'http://[fc00::1]/hook',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:127.0.0.1]/hook',
  ])('refuses %s before any connection', async (url) => {
    const dns = fakeDns(() => ['127.0.0.1']);
    await expect(post(new SsrfGuard({ resolver: dns }), url)).rejects.toBeInstanceOf(
      WebhookTargetRefusedError,
    );
    expect(dns.calls).toBe(0);
  });

  it('refuses a host name that resolves to a private address', async () => {
    const dns = fakeDns(() => ['192.168.10.10']);
    await expect(
      post(new SsrfGuard({ resolver: dns }), 'http://hooks.customer.example/x'),
    ).rejects.toMatchObject({
      code: 'webhook_target_refused',
      address: '192.168.10.10',
    });
    expect(dns.calls).toBe(1);
  });

  it('refuses a public-looking host whose DNS answer changes to loopback (rebinding)', async () => {
    const r = await receiver();
    // First answer public (what an up-front check would see), every later answer loopback.
    const dns = fakeDns((_host, call) => (call === 1 ? ['93.184.216.34'] : ['127.0.0.1']));
    const guard = new SsrfGuard({ resolver: dns });
    const url = `http://rebind.example:${r.port}/hook`;
    await guard.assertAllowed(url); // resolves without connecting
    await expect(post(guard, url)).rejects.toMatchObject({
      code: 'webhook_target_refused',
      address: '127.0.0.1',
    });
    expect(dns.calls).toBe(2);
    expect(r.requests).toHaveLength(0);
  });

  it('follows an allowed redirect with the same POST', async () => {
    const target = await receiver();
    const first = await receiver(() => ({ status: 308, headers: { location: `${target.url}/moved` } }));
    const guard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    const res = await post(guard, `${first.url}/hook`);
    expect(res).toMatchObject({ status: 200, redirects: 1, finalUrl: `${target.url}/moved` });
    expect(target.requests[0]).toMatchObject({ method: 'POST', body: '{"type":"t"}' });
    expect(target.requests[0]?.headers['webhook-id']).toBe('msg_1');
  });

  it('refuses a redirect to a private address, sending nothing there', async () => {
    const internal = await receiver();
    const entry = await receiver(() => ({ status: 302, headers: { location: `${internal.url}/admin` } }));
    // Only the entry host name is allow-listed; the redirect names loopback directly.
    const dns = fakeDns((host) => (host === 'hooks.partner.example' ? ['127.0.0.1'] : []));
    const guard = new SsrfGuard({ resolver: dns, allowList: parseWebhookAllowList('hooks.partner.example') });
    await expect(post(guard, `http://hooks.partner.example:${entry.port}/hook`)).rejects.toBeInstanceOf(
      WebhookTargetRefusedError,
    );
    expect(entry.requests).toHaveLength(1);
    expect(internal.requests).toHaveLength(0);

    const toMetadata = await receiver(() => ({
      status: 307,
      headers: { location: 'http://169.254.169.254/' },
    }));
    const localGuard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    await expect(post(localGuard, toMetadata.url)).rejects.toBeInstanceOf(WebhookTargetRefusedError);
  });

  it('refuses a redirect to a name that resolves privately', async () => {
    const entry = await receiver(() => ({ status: 307, headers: { location: 'http://sneaky.example/' } }));
    const dns = fakeDns(() => ['10.0.0.8']);
    const guard = new SsrfGuard({ resolver: dns, allowList: parseWebhookAllowList('127.0.0.1') });
    await expect(post(guard, entry.url)).rejects.toMatchObject({ address: '10.0.0.8' });
  });

  it('gives up after a few redirects', async () => {
    const loop = await receiver(() => ({ status: 302, headers: { location: '/again' } }));
    const guard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    const error = await post(guard, loop.url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WebhookTooManyRedirectsError);
    // A loop is how the receiver is set up: retrying later walks the same loop.
    expect(error).toMatchObject({ permanent: true });
    expect(loop.requests).toHaveLength(4);
  });

  it('times out a receiver that never answers', async () => {
    const silent = await receiver(() => ({ status: 200, hang: true }));
    const guard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    await expect(post(guard, silent.url, 200)).rejects.toBeInstanceOf(WebhookTimeoutError);
  });

  it('reports the status and Retry-After of a refusal', async () => {
    const busy = await receiver(() => ({ status: 429, headers: { 'retry-after': '7' } }));
    const guard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    expect(await post(guard, busy.url)).toMatchObject({ status: 429, retryAfter: '7' });
  });

  it('reads a little of a huge answer and hangs up, without holding it', async () => {
    const gibibyte = 1024 ** 3;
    const r = await receiver(() => ({ status: 200, streamBytes: gibibyte }));
    const guard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    expect((await post(guard, `${r.url}/huge`)).status).toBe(200);
    const answer = r.sent[0]!;
    expect(await answer.closed).toEqual({ ended: false });
    // What the socket buffers took before the hang-up, far from the gibibyte offered.
    expect(answer.bytesWritten).toBeLessThan(gibibyte / 16);
  });

  it('cuts off an answer whose body never ends', async () => {
    const r = await receiver(() => ({ status: 200, trickle: true }));
    const guard = new SsrfGuard({ allowList: parseWebhookAllowList('127.0.0.1') });
    expect((await post(guard, `${r.url}/trickle`, 300)).status).toBe(200);
    expect(await r.sent[0]!.closed).toEqual({ ended: false });
  });
});
