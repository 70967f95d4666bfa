import { WebhookVerificationError as StandardWebhookError, Webhook } from 'standardwebhooks';
import { GlmImageError } from './errors.ts';
import type { WebhookEvent } from './types.ts';

/**
 * Verifying the API's webhook deliveries (Standard Webhooks) in a receiver: the
 * `webhook-signature` is an HMAC of `{webhook-id}.{webhook-timestamp}.{body}` under the
 * tenant's `whsec_…` secret, and a timestamp more than five minutes off is refused, so
 * a captured delivery cannot be replayed later. Verify the raw body, before any JSON
 * parsing: a re-serialized body no longer matches its signature.
 */

export class WebhookVerificationError extends GlmImageError {}

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

function headerValue(headers: WebhookHeaders, name: string): string {
  const value = headers instanceof Headers ? headers.get(name) : headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? '';
}

/** The delivery's event when its signature holds; throws WebhookVerificationError otherwise. */
export function verifyWebhook(
  secret: string,
  body: string | Uint8Array,
  headers: WebhookHeaders,
): WebhookEvent {
  const payload = typeof body === 'string' ? body : new TextDecoder().decode(body);
  try {
    return new Webhook(secret).verify(payload, {
      'webhook-id': headerValue(headers, 'webhook-id'),
      'webhook-timestamp': headerValue(headers, 'webhook-timestamp'),
      'webhook-signature': headerValue(headers, 'webhook-signature'),
    }) as WebhookEvent;
  } catch (error) {
    const reason = error instanceof StandardWebhookError ? error.message : String(error);
    throw new WebhookVerificationError(`webhook rejected: ${reason}`, { cause: error });
  }
}
