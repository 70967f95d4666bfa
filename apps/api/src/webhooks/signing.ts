/**
 * Standard Webhooks signing: `webhook-id`, `webhook-timestamp` and
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one
 * `whsec_...` secret per tenant (WEBHOOK_SECRETS). The `standardwebhooks` library does the
 * HMAC so receivers using any Standard Webhooks library verify what we send.
 */
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { WebhookSecretMissingError } from './errors.ts';

export interface WebhookSignatureHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

export interface SignInput {
  /** Stable across retries of one message, so receivers can deduplicate. */
  id: string;
  /** The exact bytes that are sent; signing anything else breaks verification. */
  body: string;
  /** When the attempt is made: receivers reject timestamps more than 5 minutes off. */
  at?: Date;
}

const SECRET_PREFIX = 'whsec_';

/** Throws when `secret` is not `whsec_<base64>` with a non-empty key. */
export function assertWebhookSecret(secret: string): void {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('webhook secret must start with whsec_');
  const key = secret.slice(SECRET_PREFIX.length);
  if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(key)) {
    throw new Error('webhook secret must be whsec_ followed by base64');
  }
}

/** A fresh random secret in the `whsec_` format (24 random bytes, as Standard Webhooks suggests). */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64');
}

export function signWebhook(secret: string, input: SignInput): WebhookSignatureHeaders {
  const at = input.at ?? new Date();
  return {
    'webhook-id': input.id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(input.id, at, input.body),
  };
}

/**
 * Verifies a received webhook exactly as a receiver would, returning the parsed body;
 * throws `WebhookVerificationError` (from `standardwebhooks`) on a bad signature or a
 * timestamp more than 5 minutes off.
 */
export function verifyWebhook(
  secret: string,
  body: string | Buffer,
  headers: Record<string, string | string[] | undefined>,
): unknown {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string') flat[name] = value;
    else if (Array.isArray(value)) flat[name] = value.join(' ');
  }
  return new Webhook(secret).verify(body, flat);
}

/** Signs with the tenant's own secret; a tenant without one cannot receive webhooks. */
export class WebhookSigner {
  private readonly secrets: ReadonlyMap<string, string>;

  /** `secrets` maps tenant → `whsec_...`; every secret is checked up front so a typo fails at start-up. */
  constructor(secrets: Record<string, string>) {
    for (const [tenant, secret] of Object.entries(secrets)) {
      try {
        assertWebhookSecret(secret);
      } catch (err) {
        throw new Error(`WEBHOOK_SECRETS[${tenant}]: ${(err as Error).message}`);
      }
    }
    this.secrets = new Map(Object.entries(secrets));
  }

  has(tenant: string): boolean {
    return this.secrets.has(tenant);
  }

  sign(tenant: string, input: SignInput): WebhookSignatureHeaders {
    const secret = this.secrets.get(tenant);
    if (secret === undefined) throw new WebhookSecretMissingError(tenant);
    return signWebhook(secret, input);
  }
}
