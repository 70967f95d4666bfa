/**
 * Errors of the webhook pipeline. Each carries a stable `code` (recorded in the delivery
 * log and shown to API clients) and says what the delivery queue should do with it.
 */

export class WebhookError extends Error {
  readonly code: string;
  /** True when retrying cannot help: the job fails at once instead of backing off. */
  readonly permanent: boolean;

  constructor(code: string, message: string, permanent: boolean) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.permanent = permanent;
  }
}

/** The target (or a redirect, or an address it resolved to) is not a public address. */
export class WebhookTargetRefusedError extends WebhookError {
  readonly hostname: string;
  readonly address: string | undefined;

  constructor(hostname: string, reason: string, address?: string) {
    super('webhook_target_refused', `webhook target ${hostname} refused: ${reason}`, true);
    this.hostname = hostname;
    this.address = address;
  }
}

/** The URL is not an absolute http(s) URL, or a redirect pointed somewhere unusable. */
export class WebhookInvalidUrlError extends WebhookError {
  constructor(message: string) {
    super('webhook_invalid_url', message, true);
  }
}

/** No signing secret is configured for the tenant: sending unsigned would be worse than not sending. */
export class WebhookSecretMissingError extends WebhookError {
  constructor(tenant: string) {
    super('webhook_secret_missing', `no webhook secret configured for tenant ${tenant}`, true);
  }
}

/** The receiver did not answer within the delivery timeout. */
export class WebhookTimeoutError extends WebhookError {
  constructor(timeoutMs: number) {
    super('webhook_timeout', `webhook receiver did not answer within ${timeoutMs} ms`, false);
  }
}

/**
 * More redirects than the delivery follows. Permanent: a redirect loop or chain is how the
 * receiver is configured, and trying again later walks the same chain.
 */
export class WebhookTooManyRedirectsError extends WebhookError {
  constructor(max: number) {
    super('webhook_too_many_redirects', `webhook receiver redirected more than ${max} times`, true);
  }
}

/** The receiver answered with a status other than 2xx. `retryAfterMs` comes from its Retry-After header. */
export class WebhookRejectedError extends WebhookError {
  readonly status: number;
  readonly retryAfterMs: number | undefined;

  constructor(status: number, retryAfterMs?: number) {
    super('webhook_rejected', `webhook receiver answered ${status}`, false);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The receiver answered 410 Gone: the endpoint is disabled for the tenant and never called again. */
export class WebhookEndpointGoneError extends WebhookError {
  constructor(url: string) {
    super('webhook_endpoint_gone', `webhook endpoint ${url} answered 410 Gone and is now disabled`, true);
  }
}

/** Maps any thrown value to the short code the delivery log records. */
export function webhookErrorCode(err: unknown): string {
  if (err instanceof WebhookError) return err.code;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.length > 0) return code;
  return 'webhook_network_error';
}
