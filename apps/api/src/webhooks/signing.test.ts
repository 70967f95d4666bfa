import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { WebhookSecretMissingError } from './errors.ts';
import { generateWebhookSecret, signWebhook, verifyWebhook, WebhookSigner } from './signing.ts';

// The published Standard Webhooks test vector.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  at: new Date(1614265330 * 1000),
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('signWebhook', () => {
  it('matches the Standard Webhooks test vector', () => {
    expect(signWebhook(VECTOR.secret, VECTOR)).toEqual({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': '1614265330',
      'webhook-signature': VECTOR.signature,
    });
  });

  it('produces headers a Standard Webhooks receiver accepts, and rejects tampering', () => {
    const secret = generateWebhookSecret();
    const body = JSON.stringify({ type: 'generation.succeeded', data: { id: 'gen_1' } });
    const headers = signWebhook(secret, { id: 'msg_gen_1_generation.succeeded', body });

    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
    expect(() => new Webhook(secret).verify(body.replace('gen_1', 'gen_2'), { ...headers })).toThrow(
      WebhookVerificationError,
    );
    expect(() => new Webhook(generateWebhookSecret()).verify(body, { ...headers })).toThrow(
      WebhookVerificationError,
    );
    expect(() => verifyWebhook(secret, body, { ...headers, 'webhook-id': 'msg_other' })).toThrow(
      WebhookVerificationError,
    );
  });

  it('signs each attempt with its own timestamp', () => {
    const secret = generateWebhookSecret();
    const first = signWebhook(secret, { id: 'msg_a', body: '{}', at: new Date(1_700_000_000_000) });
    const later = signWebhook(secret, { id: 'msg_a', body: '{}', at: new Date(1_700_000_060_000) });
    expect(later['webhook-id']).toBe(first['webhook-id']);
    expect(later['webhook-timestamp']).toBe('1700000060');
    expect(later['webhook-signature']).not.toBe(first['webhook-signature']);
  });
});

describe('WebhookSigner', () => {
  it('signs with the tenant’s secret and refuses tenants without one', () => {
    const acme = generateWebhookSecret();
    const signer = new WebhookSigner({ acme, globex: generateWebhookSecret() });
    const headers = signer.sign('acme', { id: 'msg_1', body: '{"a":1}' });
    expect(verifyWebhook(acme, '{"a":1}', { ...headers })).toEqual({ a: 1 });
    expect(signer.has('initech')).toBe(false);
    expect(() => signer.sign('initech', { id: 'msg_1', body: '{}' })).toThrow(WebhookSecretMissingError);
  });

  it('rejects malformed secrets up front', () => {
    expect(() => new WebhookSigner({ acme: 'not-a-secret' })).toThrow(/WEBHOOK_SECRETS\[acme\]/);
    expect(() => new WebhookSigner({ acme: 'whsec_' })).toThrow(/base64/);
  });
});
