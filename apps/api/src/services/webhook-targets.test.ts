import { InvalidInputError } from '@glm-image/shared/errors';
import { describe, expect, it } from 'vitest';
import { httpStatusOf } from '../plugins/errors.ts';
import { parseWebhookAllowList, SsrfGuard } from '../webhooks/ssrf-guard.ts';
import { WebhookTargetCheck } from './webhook-targets.ts';

/** The submit-time check alone: what it refuses, and what it leaves to delivery time. */

describe('WebhookTargetCheck', () => {
  it('refuses with a 400 naming webhook.url', async () => {
    const check = new WebhookTargetCheck(new SsrfGuard({ resolver: async () => [] }));
    const refusal = await check.assertDeliverable('http://10.0.0.1/hook').catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(InvalidInputError);
    expect(refusal).toMatchObject({ field: 'webhook.url' });
    expect(httpStatusOf(refusal as InvalidInputError)).toBe(400);
  });

  it('leaves a resolver that does not answer in time to the delivery-time check', async () => {
    // The resolver never answers: without the check's own timeout this would never settle.
    const hanging = new SsrfGuard({ resolver: () => new Promise(() => {}) });
    await expect(
      new WebhookTargetCheck(hanging, 50).assertDeliverable('https://slow.example.com/x'),
    ).resolves.toBeUndefined();
  });

  it('refuses a private answer that arrives in time, unless the allow-list names the host', async () => {
    const resolver = async () => [{ address: '10.1.2.3', family: 4 as const }];
    const strict = new WebhookTargetCheck(new SsrfGuard({ resolver }));
    await expect(strict.assertDeliverable('https://partner.example/x')).rejects.toThrow(/^webhook\.url: /);
    const allowing = new WebhookTargetCheck(
      new SsrfGuard({ resolver, allowList: parseWebhookAllowList('partner.example') }),
    );
    await expect(allowing.assertDeliverable('https://partner.example/x')).resolves.toBeUndefined();
  });
});
